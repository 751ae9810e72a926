using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Multiprocessing.Scheduling;
using Multiprocessing.Worker;

namespace Multiprocessing.Pool;

/// <summary>
/// Runs every few milliseconds: kills workers whose task overran its time-out, that did not begin
/// the work they were handed within it (frozen or stopped: their never-started tasks then go to
/// another worker), or whose cancelled task ignored its token. The kill ends the worker; the fleet
/// settles its work when its channel closes.
/// </summary>
internal sealed class WorkerDeadlines : IAsyncDisposable
{
    /// <summary>
    /// The least time a worker has to begin a unit it was handed before it is taken for frozen. A cold
    /// worker first loads the task's assembly and builds its codecs; a short TaskTimeout must not
    /// turn that into a kill, and the cold replacement into another.
    /// </summary>
    private static readonly TimeSpan MinTimeToTakeWork = TimeSpan.FromSeconds(1);

    private readonly WorkerFleet _fleet;
    private readonly ProcessPoolOptions _options;
    private readonly ILogger _logger;
    private readonly Timer _timer;

    public WorkerDeadlines(WorkerFleet fleet, ProcessPoolOptions options, ILogger logger)
    {
        _fleet = fleet;
        _options = options;
        _logger = logger;
        TimeSpan tick = options.TaskTimeout is TimeSpan t ? TimeSpan.FromTicks(Math.Clamp(t.Ticks / 5, TimeSpan.TicksPerMillisecond * 5, TimeSpan.TicksPerMillisecond * 100)) : TimeSpan.FromMilliseconds(100);
        _timer = new Timer(Check, null, tick, tick);
    }

    public ValueTask DisposeAsync() => _timer.DisposeAsync();

    private void Check(object? state)
    {
        var kills = new List<(WorkerConnection, string)>();
        List<Action>? logs = null;
        lock (_fleet.Scheduler.Gate)
        {
            long now = Stopwatch.GetTimestamp();
            foreach (WorkerExecutor worker in _fleet.Workers)
            {
                if (worker.Connection is not { } connection || worker.InFlight.Count == 0 || worker.State is ExecutorState.Dead or ExecutorState.Starting)
                {
                    continue;
                }
                if (!connection.Status.TryReadCurrent(out long started, out long startedAt))
                {
                    continue;
                }
                if (started != worker.SeenStarted || worker.ItemsCompleted != worker.SeenCompleted)
                {
                    (worker.SeenStarted, worker.SeenCompleted, worker.ProgressAt) = (started, worker.ItemsCompleted, now);
                }
                WorkItem oldest = worker.Oldest;
                Debug.Assert(oldest.Executor == worker && oldest.HandedAt != 0, "every item in flight was handed to this worker");
                if (started <= oldest.StartOffset)
                {
                    // Nothing it holds has begun, so no task's own deadline runs: without this the
                    // callers of a frozen worker's tasks would wait until it is resumed. A free
                    // worker begins a unit at once (a cold one after loading the task's method).
                    if (_options.TaskTimeout is TimeSpan taskTimeout && !worker.Unresponsive && worker.TimedOut is null)
                    {
                        TimeSpan limit = taskTimeout > MinTimeToTakeWork ? taskTimeout : MinTimeToTakeWork;
                        TimeSpan waited = Stopwatch.GetElapsedTime(Math.Max(oldest.HandedAt, worker.ProgressAt), now);
                        if (waited > limit)
                        {
                            worker.Unresponsive = true;
                            kills.Add((connection, $"it took no work for {waited.TotalSeconds:0.0} s after it was handed a task (it has the TaskTimeout, at least {MinTimeToTakeWork.TotalSeconds:0} s, to begin one): frozen or stopped?"));
                        }
                    }
                    continue;
                }
                long running = started - 1;
                WorkItem? unit = worker.InFlight.Find(item => item.StartOffset <= running && running < item.StartOffset + item.Count);
                if (unit is null)
                {
                    continue;
                }
                TimeSpan elapsed = Stopwatch.GetElapsedTime(startedAt, now);
                if (unit.State == WorkState.Assigned && _options.TaskTimeout is TimeSpan timeout && elapsed > timeout && worker.TimedOut is null)
                {
                    worker.TimedOut = (unit, (int)(running - unit.StartOffset));
                    worker.RecycleReason ??= RecycleReason.TaskTimeout;
                    kills.Add((connection, $"a task exceeded the TaskTimeout of {timeout.TotalSeconds:0.###} s"));
                    (int pid, string task, long? index) = (connection.ProcessId, unit.Method.Method.DisplayName, unit.ItemIndex((int)(running - unit.StartOffset)));
                    (logs ??= []).Add(() => PoolLog.TaskTimedOut(_logger, pid, PoolLog.Running(task, index), timeout.TotalSeconds, task, index));
                }
                else if (unit.State == WorkState.Abandoned && Stopwatch.GetElapsedTime(unit.AbandonedAt, now) > _options.CancellationGracePeriod)
                {
                    kills.Add((connection, $"its task was cancelled and did not return within the CancellationGracePeriod of {_options.CancellationGracePeriod.TotalSeconds:0.###} s"));
                    if (worker.RecycleReason is null)
                    {
                        // The kill repeats every tick until the reader thread reports the exit; the event is logged once.
                        worker.RecycleReason = RecycleReason.CancellationGracePeriod;
                        (int pid, string task) = (connection.ProcessId, unit.Method.Method.DisplayName);
                        (logs ??= []).Add(() => PoolLog.CancellationIgnored(_logger, pid, task, _options.CancellationGracePeriod.TotalSeconds));
                    }
                }
            }
        }
        foreach ((WorkerConnection connection, string reason) in kills)
        {
            connection.Kill(reason);
        }
        logs?.ForEach(static log => log());
    }
}
