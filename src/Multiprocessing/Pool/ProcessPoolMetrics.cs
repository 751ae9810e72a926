using System.Diagnostics.Metrics;

namespace Multiprocessing;

/// <summary>
/// The names of the <see cref="System.Diagnostics.Metrics"/> instruments every
/// <see cref="ProcessPool"/> reports, on one meter named <see cref="MeterName"/>: read them with
/// <c>dotnet-counters monitor --counters Multiprocessing</c>, OpenTelemetry's
/// <c>AddMeter("Multiprocessing")</c> or a <see cref="MeterListener"/>.
/// </summary>
/// <remarks>
/// <para>
/// Every measurement carries the tag <see cref="PoolTag"/> when the pool has a
/// <see cref="ProcessPoolOptions.Name"/>. Counts are of tasks as the caller sees them: one per
/// <c>SubmitAsync</c>, one per input item of a map (not one per chunk sent to a worker).
/// Tasks that the caller cancels count as submitted and neither completed nor failed.
/// </para>
/// <para>
/// With no listener the counters cost a branch per chunk; the gauges cost nothing until they
/// are observed, and the per-worker PSS is read from the kernel only then.
/// </para>
/// </remarks>
public static class ProcessPoolMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Multiprocessing";

    /// <summary>Counter, unit <c>{task}</c>: tasks handed to the pool.</summary>
    public const string TasksSubmitted = "multiprocessing.tasks.submitted";

    /// <summary>Counter, unit <c>{task}</c>: tasks whose result came back.</summary>
    public const string TasksCompleted = "multiprocessing.tasks.completed";

    /// <summary>
    /// Counter, unit <c>{task}</c>: tasks that failed (threw, crashed their worker, timed out, were
    /// refused or dropped by a disposed or faulted pool). A map chunk that fails counts all its items.
    /// </summary>
    public const string TasksFailed = "multiprocessing.tasks.failed";

    /// <summary>Histogram, unit <c>s</c>: how long a task ran in its worker. A map chunk records its mean time per item once per item.</summary>
    public const string TaskDuration = "multiprocessing.task.duration";

    /// <summary>
    /// Counter, unit <c>{worker}</c>: worker processes the pool started to replace one that left, with
    /// the tag <see cref="ReasonTag"/>: <c>max_tasks</c>, <c>memory_limit</c>, <c>task_timeout</c>,
    /// <c>cancellation_timeout</c>, <c>crash</c> or <c>start_failure</c>.
    /// </summary>
    public const string WorkerRestarts = "multiprocessing.worker.restarts";

    /// <summary>Observable gauge, unit <c>{task}</c>: tasks (map items) queued and not yet handed to a worker.</summary>
    public const string QueueLength = "multiprocessing.queue.length";

    /// <summary>Observable gauge, unit <c>{worker}</c>: workers that hold at least one task.</summary>
    public const string BusyWorkers = "multiprocessing.workers.busy";

    /// <summary>Observable gauge, unit <c>{worker}</c>: worker processes running (started and not exited).</summary>
    public const string Workers = "multiprocessing.workers";

    /// <summary>
    /// Observable gauge, unit <c>By</c>: each worker's proportional set size (PSS), read from
    /// <c>/proc/PID/smaps_rollup</c> when observed, with the tag <see cref="PidTag"/>.
    /// </summary>
    public const string WorkerPss = "multiprocessing.worker.pss";

    /// <summary>The tag that names the pool (<see cref="ProcessPoolOptions.Name"/>).</summary>
    public const string PoolTag = "pool";

    /// <summary>The tag that gives a worker's process id, on <see cref="WorkerPss"/>.</summary>
    public const string PidTag = "pid";

    /// <summary>The tag that says why a worker was replaced, on <see cref="WorkerRestarts"/>.</summary>
    public const string ReasonTag = "reason";
}

/// <summary>The meter and its instruments, shared by every pool in the process; gauges read the pools registered here.</summary>
internal static class PoolInstruments
{
    private static readonly Meter s_meter = new(ProcessPoolMetrics.MeterName, typeof(PoolInstruments).Assembly.GetName().Version?.ToString());
    private static readonly Lock s_poolsLock = new();
    private static ProcessPool[] s_pools = [];

    public static readonly Counter<long> Submitted = s_meter.CreateCounter<long>(ProcessPoolMetrics.TasksSubmitted, "{task}", "Tasks handed to the pool.");
    public static readonly Counter<long> Completed = s_meter.CreateCounter<long>(ProcessPoolMetrics.TasksCompleted, "{task}", "Tasks whose result came back.");
    public static readonly Counter<long> Failed = s_meter.CreateCounter<long>(ProcessPoolMetrics.TasksFailed, "{task}", "Tasks that failed.");
    public static readonly Histogram<double> Duration = s_meter.CreateHistogram<double>(ProcessPoolMetrics.TaskDuration, "s", "How long a task ran in its worker.");
    public static readonly Counter<long> Restarts = s_meter.CreateCounter<long>(ProcessPoolMetrics.WorkerRestarts, "{worker}", "Worker processes started to replace one that left.");

    static PoolInstruments()
    {
        s_meter.CreateObservableGauge(ProcessPoolMetrics.QueueLength, () => Observe(static p => p.QueuedItems), "{task}", "Tasks queued and not yet handed to a worker.");
        s_meter.CreateObservableGauge(ProcessPoolMetrics.BusyWorkers, () => Observe(static p => p.BusyWorkers), "{worker}", "Workers that hold at least one task.");
        s_meter.CreateObservableGauge(ProcessPoolMetrics.Workers, () => Observe(static p => p.WorkerProcessIds.Count), "{worker}", "Worker processes running.");
        s_meter.CreateObservableGauge(ProcessPoolMetrics.WorkerPss, ObservePss, "By", "Proportional set size of each worker process.");
    }

    public static void Register(ProcessPool pool)
    {
        lock (s_poolsLock)
        {
            s_pools = [.. s_pools, pool];
        }
    }

    public static void Unregister(ProcessPool pool)
    {
        lock (s_poolsLock)
        {
            s_pools = [.. s_pools.Where(p => p != pool)];
        }
    }

    private static IEnumerable<Measurement<long>> Observe(Func<ProcessPool, long> read)
    {
        foreach (ProcessPool pool in Volatile.Read(ref s_pools))
        {
            yield return pool.PoolTag is { } tag ? new Measurement<long>(read(pool), tag) : new Measurement<long>(read(pool));
        }
    }

    private static IEnumerable<Measurement<long>> ObservePss()
    {
        foreach (ProcessPool pool in Volatile.Read(ref s_pools))
        {
            foreach (int pid in pool.WorkerProcessIds)
            {
                MemoryUsage? usage;
                try
                {
                    // A worker that exits between the listing and the read is simply not reported.
                    if (!ProcessMemory.TryRead(pid, out usage))
                    {
                        continue;
                    }
                }
                catch (Exception e) when (e is UnauthorizedAccessException or IOException or InvalidDataException or PlatformNotSupportedException)
                {
                    // A gauge callback must not throw into the listener; a worker we may not read has no figure.
                    continue;
                }
                var pidTag = new KeyValuePair<string, object?>(ProcessPoolMetrics.PidTag, pid);
                yield return pool.PoolTag is { } tag ? new Measurement<long>(usage.Pss, tag, pidTag) : new Measurement<long>(usage.Pss, pidTag);
            }
        }
    }
}
