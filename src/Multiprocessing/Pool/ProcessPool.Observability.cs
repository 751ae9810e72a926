using Multiprocessing.Pool;
using Multiprocessing.Scheduling;

namespace Multiprocessing;

// What the metrics' gauges and the tests read of a running pool.
public sealed partial class ProcessPool
{
    /// <summary>The <see cref="ProcessPoolMetrics.PoolTag"/> tag, or null when the pool has no name.</summary>
    internal KeyValuePair<string, object?>? PoolTag => _meter.PoolTag;

    /// <summary>Tasks (map items) queued and not yet handed to a worker.</summary>
    internal long QueuedItems => _scheduler.QueuedItems;

    /// <summary>Workers that hold at least one task.</summary>
    internal long BusyWorkers
    {
        get
        {
            lock (_scheduler.Gate)
            {
                return _fleet.Workers.Count(w => w.InFlight.Count > 0 && w.State is not ExecutorState.Dead);
            }
        }
    }

    /// <summary>Results delivered from dead workers' journals (a test hook: proves that path ran).</summary>
    internal long JournaledResultsForTesting => _fleet.JournaledResults;

    /// <summary>Test hook: writes raw bytes to one worker's control channel, as a corrupt parent would.</summary>
    internal bool SendRawForTesting(int processId, byte[] bytes) => _fleet.SendRaw(processId, bytes);
}
