using System.Diagnostics;
using System.Diagnostics.Metrics;
using Multiprocessing.Scheduling;

namespace Multiprocessing.Pool;

/// <summary>
/// The pool's counters (<see cref="ProcessPoolMetrics"/>): the scheduler and the worker fleet call
/// these where things happen. A counter is only touched when a listener enabled it, so a pool nobody
/// observes pays a branch per chunk.
/// </summary>
internal sealed class PoolMeter(string? poolName) : IWorkMeter
{
    /// <summary>The tag every measurement carries when the pool has a name.</summary>
    public KeyValuePair<string, object?>? PoolTag { get; } = poolName is null ? null : new KeyValuePair<string, object?>(ProcessPoolMetrics.PoolTag, poolName);

    public void Submitted(int items)
    {
        if (PoolInstruments.Submitted.Enabled)
        {
            Add(PoolInstruments.Submitted, items);
        }
    }

    public void Completed(WorkItem item, long elapsedTicks)
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

    public void Failed(WorkItem item)
    {
        if (PoolInstruments.Failed.Enabled)
        {
            Add(PoolInstruments.Failed, item.Count);
        }
    }

    /// <summary>A worker started to replace one that left, for <paramref name="reason"/> (the restarts counter's reason tag).</summary>
    public void Restarted(string reason)
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

    private void Add(Counter<long> counter, long value)
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
}
