using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Multiprocessing.Payload;
using Multiprocessing.Scheduling;
using Multiprocessing.Wire;
using Multiprocessing.Worker;

namespace Multiprocessing.Pool;

/// <summary>
/// The pool's worker processes as a whole: starts them (all at once, then one per replacement),
/// tells the scheduler when one is ready, retires and replaces workers, and settles a worker's work
/// when it exits or dies. It shares the scheduler's lock; its deadline checks are in
/// <see cref="WorkerDeadlines"/>.
/// </summary>
internal sealed class WorkerFleet : IDisposable
{
    private const int MaxConsecutiveStartFailures = 3;

    private readonly ProcessPoolOptions _options;
    private readonly WorkerSettings _settings;
    private readonly ILogger _logger;
    private readonly PoolMeter _meter;
    private readonly WorkerInit _init;
    private readonly CancellationTokenSource _lifetime = new();
    private int _consecutiveStartFailures;

    /// <summary>Workers of the pool's first start still to launch once the first one has connected (see <see cref="LaunchedAtOnce"/>). Under the lock.</summary>
    private int _deferred;
    private long _journaledResults;

    public WorkerFleet(Scheduler scheduler, ProcessPoolOptions options, WorkerSettings settings, ILogger logger, PoolMeter meter, WorkerInit init)
    {
        Scheduler = scheduler;
        _options = options;
        _settings = settings;
        _logger = logger;
        _meter = meter;
        _init = init;
    }

    public Scheduler Scheduler { get; }

    public int? MaxTasksPerWorker => _options.MaxTasksPerWorker;

    /// <summary>Results delivered from dead workers' journals (a test hook: proves that path ran).</summary>
    public long JournaledResults => Interlocked.Read(ref _journaledResults);

    /// <summary>The workers, as the scheduler's executors. Under the lock.</summary>
    public IEnumerable<WorkerExecutor> Workers => Scheduler.Executors.Cast<WorkerExecutor>();

    /// <summary>
    /// How many of a new pool's <paramref name="workers"/> it launches at once: as many as leave one
    /// core to this process (at least one); the rest are launched as soon as the first one has
    /// connected (<see cref="Adopt"/>).
    /// </summary>
    /// <remarks>
    /// A worker's start is mostly its runtime's own boot, bound by CPU. When more processes boot than
    /// there are cores, they share the cores and each one takes longer: on two cores, two workers
    /// booting beside their parent made a fresh pool's first result about 40 ms later than one worker
    /// alone. Launching the excess once the first has connected trades that for the last worker: on
    /// two cores the first result came 24 ms sooner and the second worker was ready 35 ms later
    /// (136 against 160 ms, and 202 against 167 ms; docs/benchmarks/startup.md), the work both
    /// could do by a given time about the same. With a core to spare for every worker, all are
    /// launched at once.
    /// </remarks>
    public static int LaunchedAtOnce(int workers) => Math.Clamp(Environment.ProcessorCount - 1, 1, workers);

    /// <summary>Starts <paramref name="count"/> workers, launching every process before waiting for any. Under the lock.</summary>
    public void Start(int count) => Adopt(WorkerConnection.LaunchMany(_settings, count));

    /// <summary>
    /// Takes on workers already launched (<see cref="WorkerConnection.LaunchMany"/>) and connects them;
    /// <paramref name="deferred"/> more are launched when the first of them connects, or fails to. Under the lock.
    /// </summary>
    public void Adopt(LaunchedWorker[] launched, int deferred = 0)
    {
        Debug.Assert(Scheduler.Gate.IsHeldByCurrentThread);
        _deferred += deferred;
        foreach (LaunchedWorker worker in launched)
        {
            var executor = new WorkerExecutor(this);
            Scheduler.Add(executor);
            _ = ConnectAsync(executor, worker);
        }
    }

    /// <summary>Starts one worker to replace one that left, for <paramref name="reason"/> (the restarts metric's tag). Under the lock.</summary>
    private void Replace(string reason)
    {
        _meter.Restarted(reason);
        Start(1);
    }

    /// <summary>
    /// Stops every worker once the scheduler has closed and its work has drained (or the ShutdownTimeout
    /// passed): idle workers are told to exit, ones still running a task are killed; then waits for
    /// each to exit (a worker-exit hook has the ShutdownTimeout) and releases their connections.
    /// </summary>
    public async Task StopAsync()
    {
        _lifetime.Cancel();
        WorkerConnection[] connections;
        lock (Scheduler.Gate)
        {
            connections = Workers.Where(w => w.Connection is not null).Select(w => w.Connection!).ToArray();
            byte[] shutdown = Protocol.Frame(FrameType.Shutdown, w => w.Write(WorkerExitCodes.Normal));
            foreach (WorkerExecutor worker in Workers)
            {
                if (worker.InFlight.Count == 0)
                {
                    worker.Connection?.Send(shutdown);
                }
                else
                {
                    worker.Connection?.Kill("the pool was disposed and its ShutdownTimeout passed");
                }
            }
        }
        foreach (WorkerConnection connection in connections)
        {
            connection.Flush();
        }
        // A worker-exit hook has the ShutdownTimeout (the worker bounds it itself); this is the backstop.
        TimeSpan exitBound = TimeSpan.FromSeconds(5) + (_init.WorkerExit is null ? TimeSpan.Zero : TimeSpan.FromTicks(Math.Min(_options.ShutdownTimeout.Ticks, TimeSpan.FromDays(1).Ticks)));
        using var exitWait = new CancellationTokenSource(exitBound);
        foreach (WorkerConnection connection in connections)
        {
            try
            {
                await connection.WaitForExitAsync(exitWait.Token).ConfigureAwait(false);
                // The worker's last frames (a worker-exit hook's failure) are read before the connection closes.
                await connection.ReaderDone.WaitAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                connection.Kill("it did not exit after the pool was disposed");
            }
            catch (TimeoutException)
            {
                // Something else holds the worker's end of the channel open; its frames are not waited for.
            }
        }
        foreach (WorkerConnection connection in connections)
        {
            connection.Dispose();
        }
    }

    public void Dispose() => _lifetime.Dispose();

    /// <summary>Test hook: writes raw bytes to one worker's control channel, as a corrupt parent would.</summary>
    public bool SendRaw(int processId, byte[] bytes)
    {
        WorkerConnection? connection;
        lock (Scheduler.Gate)
        {
            connection = Workers.FirstOrDefault(w => w.Connection?.ProcessId == processId)?.Connection;
        }
        connection?.Send(bytes);
        connection?.Flush();
        return connection is not null;
    }

    private async Task ConnectAsync(WorkerExecutor worker, LaunchedWorker launched)
    {
        WorkerConnection connection;
        try
        {
            if (launched.Error is not null)
            {
                throw launched.Error;
            }
            connection = await WorkerConnection.ConnectAsync(launched.Process!, launched.Output!, launched.Expectation!, _settings, worker, _init.Write, _lifetime.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
            lock (Scheduler.Gate)
            {
                Scheduler.Remove(worker);
            }
            return;
        }
        catch (Exception e)
        {
            OnStartFailed(worker, e);
            return;
        }
        bool keep;
        lock (Scheduler.Gate)
        {
            worker.Connection ??= connection;
            keep = !Scheduler.IsClosed && worker.State != ExecutorState.Dead;
            LaunchDeferred();
        }
        if (!keep)
        {
            connection.Dispose();
        }
    }

    private void OnStartFailed(WorkerExecutor worker, Exception error)
    {
        bool retry;
        int attempt;
        lock (Scheduler.Gate)
        {
            Scheduler.Remove(worker);
            attempt = ++_consecutiveStartFailures;
            retry = !Scheduler.IsClosed && Scheduler.Fault is null && _consecutiveStartFailures < MaxConsecutiveStartFailures;
            if (retry)
            {
                Replace("start_failure");
                LaunchDeferred();
            }
        }
        PoolLog.WorkerStartFailed(_logger, attempt, error.Message, 0, error);
        if (!retry)
        {
            Scheduler.TryFault(error as WorkerStartException ?? new WorkerStartException($"The pool could not start its worker processes: {error.Message}", error));
        }
    }

    /// <summary>Launches the workers held back by <see cref="LaunchedAtOnce"/>, unless the pool is closing or has failed. Under the lock.</summary>
    private void LaunchDeferred()
    {
        Debug.Assert(Scheduler.Gate.IsHeldByCurrentThread);
        if (_deferred == 0 || Scheduler.IsClosed || Scheduler.Fault is not null)
        {
            return;
        }
        int count = _deferred;
        _deferred = 0;
        Start(count);
    }

    /// <summary>A frame about the worker rather than about a unit (units' results are the executor's).</summary>
    public void OnFrame(WorkerExecutor worker, WorkerConnection connection, FrameType type, ref PayloadReader body)
    {
        switch (type)
        {
            case FrameType.Ready:
                bool becameReady;
                lock (Scheduler.Gate)
                {
                    worker.Connection ??= connection;
                    becameReady = Scheduler.MarkReady(worker);
                    if (becameReady)
                    {
                        _consecutiveStartFailures = 0;
                    }
                }
                if (becameReady)
                {
                    PoolLog.WorkerStarted(_logger, connection.ProcessId, worker.StartTime, (long)Stopwatch.GetElapsedTime(worker.StartTimestamp).TotalMilliseconds);
                }
                break;
            case FrameType.InitFailed:
                RemoteError error = RemoteError.Read(ref body);
                PoolLog.InitializerFailed(_logger, connection.ProcessId, _init.Initializer?.DisplayName, error.TypeName, error.Message);
                Scheduler.TryFault(new WorkerStartException(
                    $"The worker initializer {_init.Initializer?.DisplayName} threw {error.TypeName}: {error.Message} The pool has stopped; fix the initializer and create a new pool.",
                    new WorkerException(error.Message, error.TypeName, error.Message, error.Details, connection.ProcessId, null)));
                connection.Kill("its initializer failed");
                break;
            case FrameType.WorkerExitFailed:
                RemoteError exitError = RemoteError.Read(ref body);
                PoolLog.WorkerExitFailed(_logger, connection.ProcessId, _init.WorkerExit?.DisplayName, exitError.TypeName, exitError.Message);
                break;
            case FrameType.Fatal:
                worker.FatalMessage = body.ReadString();
                break;
            case FrameType.Leaving:
                // A planned end the worker chose (a stop signal its parent did not act on): take
                // no more work there and start its replacement; its exit is logged as a recycle.
                string? why = body.ReadString();
                lock (Scheduler.Gate)
                {
                    worker.FatalMessage = why;
                    if (worker.State is ExecutorState.Ready or ExecutorState.Retiring)
                    {
                        Retire(worker, RecycleReason.StopSignal);
                    }
                }
                break;
            default:
                throw new InvalidDataException($"unexpected frame type {(byte)type} from the worker");
        }
    }

    /// <summary>After a unit's result: recycles a worker over its memory limit, and stops a retiring one that has finished its work. Under the lock.</summary>
    public void OnUnitDone(WorkerExecutor worker, WorkerConnection connection, long privateBytes)
    {
        Debug.Assert(Scheduler.Gate.IsHeldByCurrentThread);
        if (_options.WorkerMemoryLimit is long limit && privateBytes > limit && worker.State == ExecutorState.Ready)
        {
            Retire(worker, RecycleReason.WorkerMemoryLimit);
        }
        if (worker.State == ExecutorState.Retiring && worker.InFlight.Count == 0)
        {
            worker.State = ExecutorState.Stopping;
            connection.Send(Protocol.Frame(FrameType.Shutdown, w => w.Write(WorkerExitCodes.Normal)));
        }
    }

    /// <summary>Stops giving <paramref name="worker"/> work and starts its replacement. Under the lock.</summary>
    public void Retire(WorkerExecutor worker, RecycleReason reason)
    {
        Debug.Assert(Scheduler.Gate.IsHeldByCurrentThread);
        Debug.Assert(worker.State is ExecutorState.Ready or ExecutorState.Retiring, "only a worker that takes work is retired");
        worker.State = ExecutorState.Retiring;
        worker.RecycleReason ??= reason;
        if (!worker.ReplacementStarted && !Scheduler.IsClosed && Scheduler.Fault is null)
        {
            worker.ReplacementStarted = true;
            Replace(RestartTag(reason));
        }
    }

    public Exception ToException(RemoteError error, WorkItem item, int processId) =>
        error.ToException(item.Method.Method.DisplayName, item.ItemIndex(error.ItemIndex), processId, _options.MaxMessageSize);

    /// <summary>
    /// The worker's channel closed. Units it had begun fail (it died running them); units it had
    /// not begun go back to the front of the queue; a replacement starts unless the pool is ending.
    /// </summary>
    public void OnDisconnected(WorkerExecutor worker, WorkerConnection connection, string? protocolError)
    {
        Interlocked.Add(ref _journaledResults, connection.JournaledResultsDelivered);
        int? exitCode = connection.WaitForExitCode(TimeSpan.FromSeconds(5));
        var failed = new List<(WorkItem Item, Exception Error)>();
        List<Executor>? touched;
        bool startFailure, expected, giveUp;
        string? crashedTask = null;
        long? crashedItem = null;
        int startAttempt;
        bool alreadyHandled;
        lock (Scheduler.Gate)
        {
            alreadyHandled = worker.State == ExecutorState.Dead;
        }
        if (alreadyHandled)
        {
            connection.Dispose();
            return;
        }
        lock (Scheduler.Gate)
        {
            startFailure = worker.State == ExecutorState.Starting;
            expected = worker.State == ExecutorState.Stopping || Scheduler.IsClosed;
            long started = connection.Status.ItemsStarted;
            Scheduler.Lost(worker, item =>
            {
                if (item.StartOffset >= started)
                {
                    return null;
                }
                int index = (int)Math.Min(started - 1 - item.StartOffset, item.Count - 1);
                crashedTask ??= item.Method.Method.DisplayName;
                crashedItem ??= item.ItemIndex(index);
                return DeathException(worker, connection, item, index, exitCode, protocolError);
            }, failed);
            if (startFailure)
            {
                _consecutiveStartFailures++;
            }
            startAttempt = _consecutiveStartFailures;
            giveUp = startFailure && _consecutiveStartFailures >= MaxConsecutiveStartFailures;
            if (!Scheduler.IsClosed && Scheduler.Fault is null && !worker.ReplacementStarted && !giveUp)
            {
                Replace(worker.RecycleReason is { } reason ? RestartTag(reason) : startFailure ? "start_failure" : "crash");
            }
            touched = Scheduler.AssignAll();
        }
        Scheduler.Flush(touched);
        LogExit(worker, connection, new ExitFacts(exitCode, startFailure, startAttempt, expected, crashedTask, crashedItem, DeathCause(worker, connection, exitCode, protocolError)));
        connection.Dispose();
        if (giveUp && !Scheduler.IsClosed)
        {
            Scheduler.TryFault(new WorkerStartException($"Worker processes keep exiting as they start ({WorkerCrashedException.Describe(exitCode)}). The pool has stopped. Their error output, if any, is above."));
        }
        Scheduler.ReportFailed(failed);
    }

    private Exception DeathException(WorkerExecutor worker, WorkerConnection connection, WorkItem item, int index, int? exitCode, string? protocolError)
    {
        long? itemIndex = item.ItemIndex(index);
        string which = itemIndex is null ? "the task" : $"item {itemIndex}";
        string method = item.Method.Method.DisplayName;
        if (worker.TimedOut is { } timedOut && timedOut.Item == item && timedOut.Index == index)
        {
            return new TimeoutException(
                $"{method} ran {which} for longer than the pool's TaskTimeout ({_options.TaskTimeout!.Value.TotalSeconds:0.###} s). Its worker process {connection.ProcessId} was killed and replaced.");
        }
        if (Scheduler.IsClosed)
        {
            return new ObjectDisposedException(nameof(ProcessPool), $"The pool was disposed while {method} was still running {which}; its worker was stopped after the ShutdownTimeout.");
        }
        string cause = DeathCause(worker, connection, exitCode, protocolError);
        return new WorkerCrashedException(
            $"Worker process {connection.ProcessId} died while running {which} of {method}: {cause}. Tasks that had not started on it were handed to another worker.{WorkerCrashedException.LastWords(connection.Output)}",
            connection.ProcessId, exitCode, itemIndex);
    }

    private static string DeathCause(WorkerExecutor worker, WorkerConnection connection, int? exitCode, string? protocolError) =>
        protocolError is not null ? $"it was stopped because {protocolError}"
            : worker.FatalMessage is not null ? $"it stopped itself: {worker.FatalMessage}"
            : connection.KillReason is not null ? $"it was killed because {connection.KillReason}"
            : WorkerCrashedException.Describe(exitCode);

    private static string RestartTag(RecycleReason reason) => reason switch
    {
        RecycleReason.MaxTasksPerWorker => "max_tasks",
        RecycleReason.WorkerMemoryLimit => "memory_limit",
        RecycleReason.TaskTimeout => "task_timeout",
        RecycleReason.StopSignal => "stop_signal",
        _ => "cancellation_timeout",
    };

    private static int? SignalOf(int? exitCode) => exitCode is > 128 and < 128 + 65 ? exitCode - 128 : null;

    private void LogExit(WorkerExecutor worker, WorkerConnection connection, in ExitFacts facts)
    {
        int? signal = SignalOf(facts.ExitCode);
        // A worker that dies of something else while it finishes its last tasks before a planned
        // recycle still crashed; a time-out kill is the recycle itself.
        if (facts.StartFailure)
        {
            PoolLog.WorkerStartFailed(_logger, facts.StartAttempt, $"worker process {connection.ProcessId} exited before it was ready: {facts.Cause}", connection.ProcessId, null);
        }
        else if (worker.RecycleReason is { } reason && (facts.Task is null || reason == RecycleReason.TaskTimeout))
        {
            PoolLog.WorkerRecycled(_logger, connection.ProcessId, reason, worker.ItemsCompleted, PoolLog.ExitStatus(facts.ExitCode, signal), facts.ExitCode, signal);
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

    private readonly record struct ExitFacts(int? ExitCode, bool StartFailure, int StartAttempt, bool Expected, string? Task, long? ItemIndex, string Cause);
}
