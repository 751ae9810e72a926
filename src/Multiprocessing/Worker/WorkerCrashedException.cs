using Multiprocessing.Interop;
using Multiprocessing.Worker;

namespace Multiprocessing;

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

    internal static string LastWords(WorkerOutput output)
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
