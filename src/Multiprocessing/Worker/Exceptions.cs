using Multiprocessing.Interop;

namespace Multiprocessing;

/// <summary>
/// A task's method threw in the worker process. Carries the remote exception's type name, message
/// and stack trace; the exception object itself stays in the worker.
/// </summary>
public class WorkerException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What happened.</param>
    public WorkerException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What happened.</param>
    /// <param name="innerException">The cause.</param>
    public WorkerException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception from a remote failure.</summary>
    /// <param name="message">What happened.</param>
    /// <param name="remoteTypeName">Full name of the exception type thrown in the worker.</param>
    /// <param name="remoteMessage">Its message.</param>
    /// <param name="remoteStackTrace">Its <see cref="Exception.ToString"/> in the worker, with stack trace and inner exceptions.</param>
    /// <param name="processId">The worker's process id.</param>
    /// <param name="itemIndex">Which input item of a map failed, when known.</param>
    public WorkerException(string message, string remoteTypeName, string remoteMessage, string remoteStackTrace, int processId, long? itemIndex)
        : base(message)
    {
        RemoteTypeName = remoteTypeName;
        RemoteMessage = remoteMessage;
        RemoteStackTrace = remoteStackTrace;
        ProcessId = processId;
        ItemIndex = itemIndex;
    }

    /// <summary>Full name of the exception type that was thrown in the worker, such as <c>System.InvalidOperationException</c>.</summary>
    public string RemoteTypeName { get; } = "";

    /// <summary>The remote exception's message.</summary>
    public string RemoteMessage { get; } = "";

    /// <summary>The remote exception as text (type, message, stack trace and inner exceptions) as the worker saw it.</summary>
    public string RemoteStackTrace { get; } = "";

    /// <summary>The worker's process id.</summary>
    public int ProcessId { get; }

    /// <summary>For a map, the zero-based index of the input item whose task failed; null for a single task.</summary>
    public long? ItemIndex { get; }

    /// <inheritdoc/>
    public override string ToString() =>
        string.IsNullOrEmpty(RemoteStackTrace) ? base.ToString() : $"{base.ToString()}{Environment.NewLine}--- in worker process {ProcessId} ---{Environment.NewLine}{RemoteStackTrace}";
}

/// <summary>
/// The worker process died while it held this task: killed (SIGKILL, the OOM killer), crashed in
/// native code, failed fast, or overflowed its stack. Other tasks are not affected: those that had
/// not started on that worker run on another one.
/// </summary>
public sealed class WorkerCrashedException : WorkerException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What happened.</param>
    public WorkerCrashedException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What happened.</param>
    /// <param name="innerException">The cause.</param>
    public WorkerCrashedException(string message, Exception innerException) : base(message, innerException) { }

    internal WorkerCrashedException(string message, int processId, int? exitCode, long? itemIndex)
        : base(message, "", "", "", processId, itemIndex)
    {
        ExitCode = exitCode;
        Signal = exitCode is > 128 and < 128 + 65 ? exitCode - 128 : null;
    }

    /// <summary>The worker's exit code as .NET reports it (128 + signal number when a signal ended it); null if it could not be read.</summary>
    public int? ExitCode { get; }

    /// <summary>The signal that ended the worker (9 for SIGKILL, 6 for SIGABRT, 11 for SIGSEGV), when one did.</summary>
    public int? Signal { get; }

    internal static string LastWords(Worker.WorkerOutput output)
    {
        string text = output.RecentErrors();
        return text.Length == 0 ? "" : $"{Environment.NewLine}Its last error output:{Environment.NewLine}{text}";
    }

    internal static string Describe(int? exitCode) => exitCode switch
    {
        null => "its exit status could not be read",
        > 128 and < 128 + 65 => $"it was ended by signal {exitCode - 128} ({SignalName(exitCode.Value - 128)})",
        _ => $"it exited with code {exitCode}",
    };

    private static string SignalName(int signal) => signal switch
    {
        Libc.SIGKILL => "SIGKILL: killed, possibly by the out-of-memory killer",
        6 => "SIGABRT: Environment.FailFast, a stack overflow or a native abort",
        11 => "SIGSEGV: a crash in native code",
        7 => "SIGBUS: a bad memory access, e.g. a mapped file that was truncated",
        15 => "SIGTERM",
        _ => "signal " + signal,
    };
}

/// <summary>The pool (or a <see cref="WorkerProcess"/>) could not start a worker, or the worker's initializer failed.</summary>
public sealed class WorkerStartException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What happened.</param>
    public WorkerStartException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What happened.</param>
    /// <param name="innerException">The cause.</param>
    public WorkerStartException(string message, Exception innerException) : base(message, innerException) { }
}
