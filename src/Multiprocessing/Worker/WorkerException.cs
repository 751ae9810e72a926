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
