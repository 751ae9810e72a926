using Microsoft.Extensions.Logging;

namespace Multiprocessing.Worker;

/// <summary>The log events of what workers write to stdout and stderr (category <see cref="ProcessPoolLogEvents.WorkerCategory"/>).</summary>
internal static partial class WorkerOutputLog
{
    [LoggerMessage(EventId = ProcessPoolLogEvents.WorkerStandardOutput, EventName = nameof(ProcessPoolLogEvents.WorkerStandardOutput), Level = LogLevel.Information,
        Message = "[worker {ProcessId}] {Line}")]
    public static partial void WorkerStandardOutput(ILogger logger, int processId, string line);

    [LoggerMessage(EventId = ProcessPoolLogEvents.WorkerStandardError, EventName = nameof(ProcessPoolLogEvents.WorkerStandardError), Level = LogLevel.Warning,
        Message = "[worker {ProcessId}] {Line}")]
    public static partial void WorkerStandardError(ILogger logger, int processId, string line);
}
