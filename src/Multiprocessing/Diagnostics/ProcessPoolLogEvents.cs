namespace Multiprocessing;

/// <summary>
/// The event ids of what a <see cref="ProcessPool"/> logs, stable across versions so that log
/// filters and alerts can rely on them. Pool events use the category <see cref="PoolCategory"/>;
/// what workers print uses <see cref="WorkerCategory"/>.
/// </summary>
/// <remarks>
/// Every event names the worker's process id in a <c>ProcessId</c> field. Exit codes follow .NET
/// (128 + N when signal N ended the process) and the signal is given separately as <c>Signal</c>.
/// </remarks>
public static class ProcessPoolLogEvents
{
    /// <summary>The category of the pool's own events.</summary>
    public const string PoolCategory = "Multiprocessing.ProcessPool";

    /// <summary>The category of the lines workers write to stdout and stderr.</summary>
    public const string WorkerCategory = "Multiprocessing.Worker";

    /// <summary>Information: a worker process started and is ready for tasks (its initializer, if any, has run). Fields: <c>ProcessId</c>, <c>StartTime</c>, <c>StartupMilliseconds</c>.</summary>
    public const int WorkerStarted = 1;

    /// <summary>Information: a worker process exited because the pool asked it to (the pool was disposed). Fields: <c>ProcessId</c>, <c>ExitStatus</c> (in words), <c>ExitCode</c>, <c>Signal</c>.</summary>
    public const int WorkerExited = 2;

    /// <summary>
    /// Information: a worker process was replaced on purpose and has exited. Fields: <c>ProcessId</c>,
    /// <c>Reason</c> (<c>MaxTasksPerWorker</c>, <c>WorkerMemoryLimit</c>, <c>TaskTimeout</c>,
    /// <c>CancellationGracePeriod</c>, <c>StopSignal</c>: the worker was sent SIGTERM and left on its own after its task), <c>TasksCompleted</c>, <c>ExitStatus</c>, <c>ExitCode</c>, <c>Signal</c>.
    /// </summary>
    public const int WorkerRecycled = 3;

    /// <summary>
    /// Error: a worker process died without being asked to. Fields: <c>ProcessId</c>, <c>Running</c>
    /// (in words), <c>Task</c> (the method it was running, empty if it was idle), <c>ItemIndex</c>
    /// (the map item, or null), <c>Cause</c>, <c>ExitCode</c>, <c>Signal</c>.
    /// </summary>
    public const int WorkerCrashed = 4;

    /// <summary>Error: the pool's <see cref="ProcessPoolOptions.Initializer"/> threw in a worker; the pool stops. Fields: <c>ProcessId</c>, <c>Initializer</c>, <c>ExceptionType</c>, <c>ExceptionMessage</c>.</summary>
    public const int InitializerFailed = 5;

    /// <summary>Warning: a task ran longer than <see cref="ProcessPoolOptions.TaskTimeout"/>; its worker is killed and replaced. Fields: <c>ProcessId</c>, <c>Running</c> (in words), <c>Task</c>, <c>ItemIndex</c>, <c>TimeoutSeconds</c>.</summary>
    public const int TaskTimedOut = 6;

    /// <summary>Error: a worker process could not be started, or exited before it was ready. Fields: <c>ProcessId</c> (0 if there was no process), <c>Attempt</c>, <c>Cause</c>; the exception when there is one.</summary>
    public const int WorkerStartFailed = 7;

    /// <summary>Warning: a task was cancelled and did not return within <see cref="ProcessPoolOptions.CancellationGracePeriod"/>; its worker is killed and replaced. Fields: <c>ProcessId</c>, <c>Task</c>, <c>GracePeriodSeconds</c>.</summary>
    public const int CancellationIgnored = 8;

    /// <summary>
    /// Warning: the pool's <see cref="ProcessPoolOptions.WorkerExit"/> hook threw, or did not return
    /// within <see cref="ProcessPoolOptions.ShutdownTimeout"/> (<c>ExceptionType</c>
    /// <c>System.TimeoutException</c>), in a worker the pool was stopping; the worker exited anyway
    /// and no task failed. Fields: <c>ProcessId</c>, <c>WorkerExit</c>, <c>ExceptionType</c>, <c>ExceptionMessage</c>.
    /// </summary>
    public const int WorkerExitFailed = 9;

    /// <summary>Information, category <see cref="WorkerCategory"/>: a line a worker wrote to stdout. Fields: <c>ProcessId</c>, <c>Line</c>.</summary>
    public const int WorkerStandardOutput = 10;

    /// <summary>Warning, category <see cref="WorkerCategory"/>: a line a worker wrote to stderr. Fields: <c>ProcessId</c>, <c>Line</c>.</summary>
    public const int WorkerStandardError = 11;
}
