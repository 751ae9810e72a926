using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Multiprocessing.Pool;
using Multiprocessing.Worker;

namespace Multiprocessing;

// Logging and metrics: the scheduler calls these at the points where things happen. Counters are
// only touched when a listener enabled them, so a pool nobody observes pays a branch per chunk.
public sealed partial class ProcessPool
{
    private readonly ILogger _logger;

    /// <summary>The <see cref="ProcessPoolMetrics.PoolTag"/> tag, or null when the pool has no name.</summary>
    internal KeyValuePair<string, object?>? PoolTag { get; }

    /// <summary>Items queued and not yet handed to a worker; for the queue-length gauge.</summary>
    internal long QueuedItems
    {
        get
        {
            lock (_gate)
            {
                return _queuedItems;
            }
        }
    }

    /// <summary>Workers holding at least one task; for the busy-workers gauge.</summary>
    internal long BusyWorkers
    {
        get
        {
            lock (_gate)
            {
                return _slots.Count(s => s.InFlight.Count > 0 && s.State is not SlotState.Dead);
            }
        }
    }

    private void CountSubmitted(int items)
    {
        if (PoolInstruments.Submitted.Enabled)
        {
            Add(PoolInstruments.Submitted, items);
        }
    }

    private void CountCompleted(WorkItem item, long elapsedTicks)
    {
        if (PoolInstruments.Completed.Enabled)
        {
            Add(PoolInstruments.Completed, item.Count);
        }
        if (PoolInstruments.Duration.Enabled && elapsedTicks > 0)
        {
            // A chunk reports one time for all its items: each item is recorded at the mean, so the
            // histogram's count matches the completed counter.
            double seconds = (double)elapsedTicks / Stopwatch.Frequency / item.Count;
            for (int i = 0; i < item.Count; i++)
            {
                if (PoolTag is { } tag)
                {
                    PoolInstruments.Duration.Record(seconds, tag);
                }
                else
                {
                    PoolInstruments.Duration.Record(seconds);
                }
            }
        }
    }

    private void CountFailed(WorkItem item)
    {
        if (PoolInstruments.Failed.Enabled)
        {
            Add(PoolInstruments.Failed, item.Count);
        }
    }

    private void CountRestart(string reason)
    {
        if (!PoolInstruments.Restarts.Enabled)
        {
            return;
        }
        var reasonTag = new KeyValuePair<string, object?>(ProcessPoolMetrics.ReasonTag, reason);
        if (PoolTag is { } tag)
        {
            PoolInstruments.Restarts.Add(1, tag, reasonTag);
        }
        else
        {
            PoolInstruments.Restarts.Add(1, reasonTag);
        }
    }

    private void Add(System.Diagnostics.Metrics.Counter<long> counter, long value)
    {
        if (PoolTag is { } tag)
        {
            counter.Add(value, tag);
        }
        else
        {
            counter.Add(value);
        }
    }

    /// <summary>Fails work items and counts them. Outside the lock.</summary>
    private void ReportFailed(List<(WorkItem Item, Exception Error)> failed)
    {
        foreach ((WorkItem item, Exception error) in failed)
        {
            CountFailed(item);
            item.Owner.OnError(item, error);
        }
    }

    /// <summary>The metric tag value for a restart.</summary>
    private static string RestartTag(RecycleReason reason) => reason switch
    {
        RecycleReason.MaxTasksPerWorker => "max_tasks",
        RecycleReason.WorkerMemoryLimit => "memory_limit",
        RecycleReason.TaskTimeout => "task_timeout",
        RecycleReason.StopSignal => "stop_signal",
        _ => "cancellation_timeout",
    };

    private static int? SignalOf(int? exitCode) => exitCode is > 128 and < 128 + 65 ? exitCode - 128 : null;

    /// <summary>Logs why a worker's process ended, once per worker. Outside the lock.</summary>
    private void LogExit(WorkerSlot slot, WorkerConnection connection, in ExitFacts facts)
    {
        int? signal = SignalOf(facts.ExitCode);
        // A worker that dies of something else while it finishes its last tasks before a planned
        // recycle still crashed; a time-out kill is the recycle itself.
        if (facts.StartFailure)
        {
            PoolLog.WorkerStartFailed(_logger, facts.StartAttempt, $"worker process {connection.ProcessId} exited before it was ready: {facts.Cause}", connection.ProcessId, null);
        }
        else if (slot.RecycleReason is { } reason && (facts.Task is null || reason == RecycleReason.TaskTimeout))
        {
            PoolLog.WorkerRecycled(_logger, connection.ProcessId, reason, slot.ItemsCompleted, PoolLog.ExitStatus(facts.ExitCode, signal), facts.ExitCode, signal);
        }
        else if (facts.Expected)
        {
            PoolLog.WorkerExited(_logger, connection.ProcessId, PoolLog.ExitStatus(facts.ExitCode, signal), facts.ExitCode, signal);
        }
        else
        {
            PoolLog.WorkerCrashed(_logger, connection.ProcessId, PoolLog.Running(facts.Task, facts.ItemIndex), facts.Cause, facts.Task ?? "", facts.ItemIndex, facts.ExitCode, signal);
        }
    }

    /// <summary>What <see cref="OnDisconnected"/> learned about a worker's end, for its log event.</summary>
    private readonly record struct ExitFacts(int? ExitCode, bool StartFailure, int StartAttempt, bool Expected, string? Task, long? ItemIndex, string Cause);
}
