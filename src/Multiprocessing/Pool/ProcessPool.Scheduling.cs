using System.Diagnostics;
using System.Runtime.Serialization;
using Multiprocessing.Payload;
using Multiprocessing.Pool;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;
using Multiprocessing.Worker;

namespace Multiprocessing;

// The scheduler: one lock guards the queue, the slots and every work item's state. Frames are
// queued on connections under the lock (so sequence numbers follow send order) and written after
// it is released; callbacks to owners also run outside it.
public sealed partial class ProcessPool
{
    private const int MaxConsecutiveStartFailures = 3;

    /// <summary>
    /// The least time a worker has to begin a unit it was handed before it is taken for frozen. A cold
    /// worker first loads the task's assembly and builds its codecs; a short TaskTimeout must not
    /// turn that into a kill, and the cold replacement into another.
    /// </summary>
    private static readonly TimeSpan MinTimeToTakeWork = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private readonly List<WorkerSlot> _slots = [];
    private readonly Queue<WorkItem> _queue = new();
    private readonly LinkedList<WorkItem> _retry = new();
    private readonly Dictionary<(System.Reflection.MethodInfo, Type), RegisteredMethod> _methods = [];
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Timer _deadlines;
    private TaskCompletionSource _readyChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Exception? _fault;
    private bool _disposed;
    private int _consecutiveStartFailures;
    private int _inFlightTotal;
    private long _queuedItems;
    private long _journaledResults;

    /// <summary>Starts a worker in a new slot. Under the lock.</summary>
    /// <param name="restartReason">Why, when it replaces a worker that left (the restarts metric's reason tag).</param>
    private void StartSlot(string? restartReason = null)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        if (restartReason is not null)
        {
            CountRestart(restartReason);
        }
        StartSlots(1);
    }

    /// <summary>Starts <paramref name="count"/> workers in new slots, launching every process before waiting for any. Under the lock.</summary>
    private void StartSlots(int count)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        var slots = new WorkerSlot[count];
        for (int i = 0; i < count; i++)
        {
            slots[i] = new WorkerSlot(this);
            _slots.Add(slots[i]);
        }
        LaunchedWorker[] launched = WorkerConnection.LaunchMany(_settings, count);
        for (int i = 0; i < count; i++)
        {
            _ = StartSlotAsync(slots[i], launched[i]);
        }
    }

    private async Task StartSlotAsync(WorkerSlot slot, LaunchedWorker launched)
    {
        WorkerConnection connection;
        try
        {
            if (launched.Error is not null)
            {
                throw launched.Error;
            }
            connection = await WorkerConnection.ConnectAsync(launched.Process!, launched.Output!, launched.Expectation!, _settings, slot, WriteInit, _lifetime.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
            lock (_gate)
            {
                slot.State = SlotState.Dead;
                _slots.Remove(slot);
            }
            return;
        }
        catch (Exception e)
        {
            OnStartFailed(slot, e);
            return;
        }
        bool keep;
        lock (_gate)
        {
            slot.Connection ??= connection;
            keep = !_disposed && slot.State != SlotState.Dead;
        }
        if (!keep)
        {
            connection.Dispose();
        }
    }

    private void WriteInit(PayloadWriter writer)
    {
        writer.WriteString(SerializerTypes.NameOf(_options.Serializer));
        writer.WriteString(SerializerTypes.NameOf(_options.JsonContext));
        writer.Write(_options.WorkerMemoryLimit is not null);
        writer.Write(_initializer is not null);
        if (_initializer is not null)
        {
            _initializer.Write(writer);
            writer.Write(_initializerArgument is not null);
            if (_initializerArgument is not null)
            {
                writer.Write(_initializerArgument.Length);
                writer.WriteBytes(_initializerArgument);
            }
        }
        writer.Write(_workerExit is not null);
        if (_workerExit is not null)
        {
            _workerExit.Write(writer);
            writer.Write(_options.ShutdownTimeout.Ticks);
        }
    }

    private void OnStartFailed(WorkerSlot slot, Exception error)
    {
        bool retry;
        int attempt;
        lock (_gate)
        {
            slot.State = SlotState.Dead;
            _slots.Remove(slot);
            attempt = ++_consecutiveStartFailures;
            retry = !_disposed && _fault is null && _consecutiveStartFailures < MaxConsecutiveStartFailures;
            if (retry)
            {
                StartSlot("start_failure");
            }
        }
        PoolLog.WorkerStartFailed(_logger, attempt, error.Message, 0, error);
        if (!retry)
        {
            Fault(error as WorkerStartException ?? new WorkerStartException($"The pool could not start its worker processes: {error.Message}", error));
        }
    }

    internal void OnFrame(WorkerSlot slot, WorkerConnection connection, FrameType type, ref PayloadReader body)
    {
        switch (type)
        {
            case FrameType.Ready:
                bool becameReady = false;
                lock (_gate)
                {
                    slot.Connection ??= connection;
                    if (slot.State == SlotState.Starting)
                    {
                        slot.State = SlotState.Ready;
                        _consecutiveStartFailures = 0;
                        becameReady = true;
                        SignalReadyChanged();
                    }
                    Assign(slot);
                }
                if (becameReady)
                {
                    PoolLog.WorkerStarted(_logger, connection.ProcessId, slot.StartTime, (long)Stopwatch.GetElapsedTime(slot.StartTimestamp).TotalMilliseconds);
                }
                break;
            case FrameType.InitFailed:
                RemoteError error = RemoteError.Read(ref body);
                PoolLog.InitializerFailed(_logger, connection.ProcessId, _initializer?.DisplayName, error.TypeName, error.Message);
                Fault(new WorkerStartException(
                    $"The worker initializer {_initializer?.DisplayName} threw {error.TypeName}: {error.Message} The pool has stopped; fix the initializer and create a new pool.",
                    new WorkerException(error.Message, error.TypeName, error.Message, error.Details, connection.ProcessId, null)));
                connection.Kill("its initializer failed");
                break;
            case FrameType.WorkerExitFailed:
                RemoteError exitError = RemoteError.Read(ref body);
                PoolLog.WorkerExitFailed(_logger, connection.ProcessId, _workerExit?.DisplayName, exitError.TypeName, exitError.Message);
                break;
            case FrameType.Result:
                OnResult(slot, connection, ref body);
                break;
            case FrameType.PartialResult:
                OnPartialResult(slot, connection, ref body);
                break;
            case FrameType.Fatal:
                slot.FatalMessage = body.ReadString();
                break;
            case FrameType.Leaving:
                // A planned end the worker chose (a stop signal its parent did not act on): take
                // no more work there and start its replacement; its exit is logged as a recycle.
                string? why = body.ReadString();
                lock (_gate)
                {
                    slot.FatalMessage = why;
                    if (slot.State is SlotState.Ready or SlotState.Retiring)
                    {
                        Retire(slot, RecycleReason.StopSignal);
                    }
                }
                break;
            default:
                throw new InvalidDataException($"unexpected frame type {(byte)type} from the worker");
        }
    }

    /// <summary>
    /// Results of the unit a worker is running that did not fit in one frame with the rest: handed to
    /// the item's owner at once, in order; the unit's Result frame brings the last of them.
    /// </summary>
    private void OnPartialResult(WorkerSlot slot, WorkerConnection connection, ref PayloadReader body)
    {
        (long sequence, ResultStatus status, _, _, int count) = ResultHeader.Read(ref body);
        WorkItem item;
        lock (_gate)
        {
            if (slot.InFlight.Count == 0 || slot.InFlight.Peek().Sequence != sequence)
            {
                throw new InvalidDataException($"the worker returned results for task {sequence}, which it was not running");
            }
            item = slot.InFlight.Peek();
            // At least one result is left for the Result frame, which completes the item.
            if (status != ResultStatus.Ok || count < 1 || count >= item.Count - item.PartialCount)
            {
                throw new InvalidDataException($"the worker returned {count} partial results for task {sequence}, which has {item.Count - item.PartialCount} to come");
            }
            if (item.State != WorkState.Assigned)
            {
                return;
            }
        }
        try
        {
            item.Owner.OnPartialResult(item, ref body, count);
            item.PartialCount += count;
        }
        catch (Exception e) when (e is InvalidDataException or SerializationException or System.Text.Json.JsonException)
        {
            CountFailed(item);
            item.Owner.OnError(item, new SerializationException($"The result of {item.Method.Method.DisplayName} could not be read back from worker {connection.ProcessId}: {e.Message}", e));
            // Its remaining results are of no use; the worker is told to stop the unit, as for a caller's cancellation.
            Abandon(item);
        }
    }

    private void OnResult(WorkerSlot slot, WorkerConnection connection, ref PayloadReader body)
    {
        (long sequence, ResultStatus status, long elapsed, long privateBytes, int count) = ResultHeader.Read(ref body);
        WorkItem item;
        bool deliver;
        lock (_gate)
        {
            if (slot.InFlight.Count == 0 || slot.InFlight.Peek().Sequence != sequence)
            {
                throw new InvalidDataException($"the worker returned a result for task {sequence}, which it was not running");
            }
            if (status == ResultStatus.Ok && count != slot.InFlight.Peek().Count - slot.InFlight.Peek().PartialCount)
            {
                throw new InvalidDataException($"the worker returned {count} results for task {sequence}, which has {slot.InFlight.Peek().Count - slot.InFlight.Peek().PartialCount} to come");
            }
            item = slot.InFlight.Dequeue();
            _inFlightTotal--;
            deliver = item.State == WorkState.Assigned;
            item.State = WorkState.Done;
            slot.ItemsCompleted += item.Count;
            if (elapsed > 0)
            {
                slot.UnitTicks = slot.UnitTicks <= 0 ? elapsed : slot.UnitTicks * 0.8 + elapsed * 0.2;
                double perItem = (double)elapsed / Math.Max(1, item.Count);
                item.Method.ItemTicks = item.Method.ItemTicks <= 0 ? perItem : item.Method.ItemTicks * 0.8 + perItem * 0.2;
            }
            if (_options.WorkerMemoryLimit is long limit && privateBytes > limit && slot.State == SlotState.Ready)
            {
                Retire(slot, RecycleReason.WorkerMemoryLimit);
            }
            if (slot.State == SlotState.Retiring && slot.InFlight.Count == 0)
            {
                slot.State = SlotState.Stopping;
                connection.Send(Protocol.Frame(FrameType.Shutdown, w => w.Write(WorkerExitCodes.Normal)));
            }
            Assign(slot);
            if (_disposed && _inFlightTotal == 0)
            {
                _drained.TrySetResult();
            }
        }
        if (!deliver)
        {
            return;
        }
        try
        {
            switch (status)
            {
                case ResultStatus.Ok:
                    item.Owner.OnResult(item, ref body, elapsed);
                    CountCompleted(item, elapsed);
                    break;
                case ResultStatus.Error:
                    CountFailed(item);
                    item.Owner.OnError(item, ToException(RemoteError.Read(ref body), item, connection.ProcessId));
                    break;
                default:
                    CountFailed(item);
                    item.Owner.OnError(item, new OperationCanceledException("The task was cancelled in the worker."));
                    break;
            }
        }
        catch (Exception e) when (e is InvalidDataException or SerializationException or System.Text.Json.JsonException)
        {
            CountFailed(item);
            item.Owner.OnError(item, new SerializationException($"The result of {item.Method.Method.DisplayName} could not be read back from worker {connection.ProcessId}: {e.Message}", e));
        }
    }

    private Exception ToException(RemoteError error, WorkItem item, int processId) =>
        error.ToException(item.Method.Method.DisplayName, item.ItemIndex(error.ItemIndex), processId, _options.MaxMessageSize);

    /// <summary>Results delivered from dead workers' journals (a test hook: proves that path ran).</summary>
    internal long JournaledResultsForTesting => Interlocked.Read(ref _journaledResults);

    internal void OnDisconnected(WorkerSlot slot, WorkerConnection connection, string? protocolError)
    {
        Interlocked.Add(ref _journaledResults, connection.JournaledResultsDelivered);
        int? exitCode = connection.WaitForExitCode(TimeSpan.FromSeconds(5));
        var failed = new List<(WorkItem Item, Exception Error)>();
        bool startFailure;
        bool giveUp;
        bool alreadyHandled = false;
        List<WorkerConnection>? touched;
        lock (_gate)
        {
            alreadyHandled = slot.State == SlotState.Dead;
        }
        if (alreadyHandled)
        {
            connection.Dispose();
            return;
        }
        bool expected;
        string? crashedTask = null;
        long? crashedItem = null;
        int startAttempt;
        lock (_gate)
        {
            startFailure = slot.State == SlotState.Starting;
            expected = slot.State == SlotState.Stopping || _disposed;
            slot.State = SlotState.Dead;
            _slots.Remove(slot);
            long started = connection.Status.ItemsStarted;
            var requeue = new List<WorkItem>();
            foreach (WorkItem item in slot.InFlight)
            {
                _inFlightTotal--;
                if (item.State != WorkState.Assigned)
                {
                    continue;
                }
                if (item.StartOffset < started)
                {
                    int index = (int)Math.Min(started - 1 - item.StartOffset, item.Count - 1);
                    item.State = WorkState.Done;
                    crashedTask ??= item.Method.Method.DisplayName;
                    crashedItem ??= item.ItemIndex(index);
                    failed.Add((item, DeathException(slot, connection, item, index, exitCode, protocolError)));
                }
                else
                {
                    item.State = WorkState.Queued;
                    item.Slot = null;
                    _queuedItems += item.Count;
                    requeue.Add(item);
                }
            }
            slot.InFlight.Clear();
            for (int i = requeue.Count - 1; i >= 0; i--)
            {
                _retry.AddFirst(requeue[i]);
            }
            if (startFailure)
            {
                _consecutiveStartFailures++;
            }
            startAttempt = _consecutiveStartFailures;
            giveUp = startFailure && _consecutiveStartFailures >= MaxConsecutiveStartFailures;
            if (!_disposed && _fault is null && !slot.ReplacementStarted && !giveUp)
            {
                StartSlot(slot.RecycleReason is { } reason ? RestartTag(reason) : startFailure ? "start_failure" : "crash");
            }
            if (_disposed)
            {
                FailQueued(failed, new ObjectDisposedException(nameof(ProcessPool), "The pool was disposed before this task ran."));
            }
            touched = AssignAll();
            if (_disposed && _inFlightTotal == 0)
            {
                _drained.TrySetResult();
            }
        }
        Flush(touched);
        LogExit(slot, connection, new ExitFacts(exitCode, startFailure, startAttempt, expected, crashedTask, crashedItem, DeathCause(slot, connection, exitCode, protocolError)));
        connection.Dispose();
        if (giveUp && !_disposed)
        {
            Fault(new WorkerStartException($"Worker processes keep exiting as they start ({WorkerCrashedException.Describe(exitCode)}). The pool has stopped. Their error output, if any, is above."));
        }
        ReportFailed(failed);
    }

    private Exception DeathException(WorkerSlot slot, WorkerConnection connection, WorkItem item, int index, int? exitCode, string? protocolError)
    {
        long? itemIndex = item.ItemIndex(index);
        string which = itemIndex is null ? "the task" : $"item {itemIndex}";
        string method = item.Method.Method.DisplayName;
        if (slot.TimedOut is { } timedOut && timedOut.Item == item && timedOut.Index == index)
        {
            return new TimeoutException(
                $"{method} ran {which} for longer than the pool's TaskTimeout ({_options.TaskTimeout!.Value.TotalSeconds:0.###} s). Its worker process {connection.ProcessId} was killed and replaced.");
        }
        if (_disposed)
        {
            return new ObjectDisposedException(nameof(ProcessPool), $"The pool was disposed while {method} was still running {which}; its worker was stopped after the ShutdownTimeout.");
        }
        string cause = DeathCause(slot, connection, exitCode, protocolError);
        return new WorkerCrashedException(
            $"Worker process {connection.ProcessId} died while running {which} of {method}: {cause}. Tasks that had not started on it were handed to another worker.{WorkerCrashedException.LastWords(connection.Output)}",
            connection.ProcessId, exitCode, itemIndex);
    }

    private static string DeathCause(WorkerSlot slot, WorkerConnection connection, int? exitCode, string? protocolError) =>
        protocolError is not null ? $"it was stopped because {protocolError}"
            : slot.FatalMessage is not null ? $"it stopped itself: {slot.FatalMessage}"
            : connection.KillReason is not null ? $"it was killed because {connection.KillReason}"
            : WorkerCrashedException.Describe(exitCode);

    /// <summary>Gives <paramref name="slot"/> work up to its depth (at most <paramref name="limit"/> units in flight). Call under the lock; flush afterwards.</summary>
    /// <returns>Whether frames were queued on the slot's connection.</returns>
    private bool Assign(WorkerSlot slot, int limit = int.MaxValue)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        if (slot.State != SlotState.Ready || slot.Connection is not { } connection)
        {
            return false;
        }
        int depth = Math.Min(slot.Depth, limit);
        // Deep queues (tiny tasks) are topped up in batches: one write, and one wake-up of the
        // worker, per half a queue of units rather than per unit.
        if (depth >= 8 && slot.InFlight.Count > depth / 2)
        {
            return false;
        }
        bool queued = false;
        while (slot.InFlight.Count < depth && slot.State == SlotState.Ready && DequeueNext() is { } item)
        {
            if (slot.Registered.Add(item.Method.Id))
            {
                connection.Send(item.Method.RegisterFrame);
            }
            item.Sequence = ++slot.NextSequence;
            item.StartOffset = slot.ItemsAssigned;
            item.State = WorkState.Assigned;
            item.Slot = slot;
            item.HandedAt = Stopwatch.GetTimestamp();
            slot.ItemsAssigned += item.Count;
            slot.InFlight.Enqueue(item);
            _inFlightTotal++;
            Protocol.StampRun(item.Frame, item.Sequence, item.Method.Id);
            connection.Send(item.Frame, item.FrameLength);
            queued = true;
            if (_options.MaxTasksPerWorker is int max && slot.ItemsAssigned >= max)
            {
                Retire(slot, RecycleReason.MaxTasksPerWorker);
            }
        }
        return queued;
    }

    /// <summary>
    /// Hands queued work to every slot with room: first one unit to each idle worker, then the
    /// workers' queues are topped up to their depth. Under the lock.
    /// </summary>
    /// <remarks>
    /// Idle workers first: pipelining a task to a busy worker while another sits idle delays it for
    /// nothing, and two tasks that wait for each other (a barrier) would deadlock on one worker.
    /// The loops index the list because assigning can retire a worker (MaxTasksPerWorker), which
    /// starts its replacement and so appends a slot to it (a new slot is Starting and takes no work).
    /// </remarks>
    /// <returns>The connections that now have frames to flush (after the lock), or null.</returns>
    private List<WorkerConnection>? AssignAll()
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        List<WorkerConnection>? touched = null;
        for (int i = 0; i < _slots.Count && HasQueuedWork; i++)
        {
            WorkerSlot slot = _slots[i];
            if (slot.InFlight.Count == 0 && Assign(slot, limit: 1))
            {
                (touched ??= []).Add(slot.Connection!);
            }
        }
        for (int i = 0; i < _slots.Count && HasQueuedWork; i++)
        {
            WorkerSlot slot = _slots[i];
            if (Assign(slot) && touched?.Contains(slot.Connection!) != true)
            {
                (touched ??= []).Add(slot.Connection!);
            }
        }
        return touched;
    }

    /// <summary>Whether tasks wait for a worker (some may be abandoned, which <see cref="DequeueNext"/> drops). Under the lock.</summary>
    private bool HasQueuedWork => _queue.Count > 0 || _retry.Count > 0;

    private static void Flush(List<WorkerConnection>? connections)
    {
        if (connections is null)
        {
            return;
        }
        foreach (WorkerConnection connection in connections)
        {
            connection.Flush();
        }
    }

    /// <summary>Stops giving <paramref name="slot"/> work and starts its replacement. Under the lock.</summary>
    private void Retire(WorkerSlot slot, RecycleReason reason)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        Debug.Assert(slot.State is SlotState.Ready or SlotState.Retiring, "only a worker that takes work is retired");
        slot.State = SlotState.Retiring;
        slot.RecycleReason ??= reason;
        if (!slot.ReplacementStarted && !_disposed && _fault is null)
        {
            slot.ReplacementStarted = true;
            StartSlot(RestartTag(reason));
        }
    }

    private WorkItem? DequeueNext()
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        while (_retry.First is { } node)
        {
            _retry.RemoveFirst();
            _queuedItems -= node.Value.Count;
            if (node.Value.State == WorkState.Queued)
            {
                return node.Value;
            }
        }
        while (_queue.TryDequeue(out WorkItem? item))
        {
            _queuedItems -= item.Count;
            if (item.State == WorkState.Queued)
            {
                return item;
            }
        }
        return null;
    }

    /// <summary>Queues work items and hands them to workers with room.</summary>
    /// <param name="item">The work.</param>
    /// <param name="flush">
    /// False to leave the frames it produced queued on their connections until <see cref="FlushAll"/>
    /// (or any other flush of those connections): a producer of a burst of tiny items then sends them
    /// in one write per worker instead of one each.
    /// </param>
    internal void Enqueue(WorkItem item, bool flush = true)
    {
        CountSubmitted(item.Count);
        Exception? refusal = null;
        List<WorkerConnection>? touched = null;
        lock (_gate)
        {
            if (_disposed)
            {
                refusal = new ObjectDisposedException(nameof(ProcessPool));
            }
            else if (_fault is not null)
            {
                refusal = _fault;
            }
            else
            {
                item.State = WorkState.Queued;
                _queue.Enqueue(item);
                _queuedItems += item.Count;
                touched = AssignAll();
            }
        }
        if (refusal is not null)
        {
            item.State = WorkState.Done;
            CountFailed(item);
            item.Owner.OnError(item, refusal);
            return;
        }
        if (flush)
        {
            Flush(touched);
        }
    }

    /// <summary>Writes the frames queued on every worker's connection (see <see cref="Enqueue"/>).</summary>
    internal void FlushAll()
    {
        WorkerConnection?[] connections;
        lock (_gate)
        {
            connections = [.. _slots.Select(s => s.Connection)];
        }
        foreach (WorkerConnection? connection in connections)
        {
            connection?.Flush();
        }
    }

    /// <summary>Test hook: writes raw bytes to one worker's control channel, as a corrupt parent would.</summary>
    internal bool SendRawForTesting(int processId, byte[] bytes)
    {
        WorkerConnection? connection;
        lock (_gate)
        {
            connection = _slots.FirstOrDefault(s => s.Connection?.ProcessId == processId)?.Connection;
        }
        connection?.Send(bytes);
        connection?.Flush();
        return connection is not null;
    }

    /// <summary>The caller no longer wants <paramref name="item"/>: drop it if queued, ask its worker to cancel it if running.</summary>
    internal void Abandon(WorkItem item)
    {
        WorkerConnection? connection = null;
        lock (_gate)
        {
            switch (item.State)
            {
                case WorkState.Queued:
                    item.State = WorkState.Abandoned;
                    break;
                case WorkState.Assigned:
                    item.State = WorkState.Abandoned;
                    item.AbandonedAt = Stopwatch.GetTimestamp();
                    connection = item.Slot?.Connection;
                    connection?.Send(Protocol.Frame(FrameType.Cancel, w => w.Write(item.Sequence)));
                    break;
            }
        }
        connection?.Flush();
    }

    private void Fault(Exception error)
    {
        var failed = new List<(WorkItem, Exception)>();
        lock (_gate)
        {
            if (_fault is not null)
            {
                return;
            }
            _fault = error;
            FailQueued(failed, error);
            SignalReadyChanged();
        }
        ReportFailed(failed);
    }

    /// <summary>Wakes <see cref="WaitForWorkersAsync"/>. Under the lock.</summary>
    private void SignalReadyChanged()
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        Interlocked.Exchange(ref _readyChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    private void FailQueued(List<(WorkItem, Exception)> failed, Exception error)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        while (DequeueNext() is { } item)
        {
            item.State = WorkState.Done;
            failed.Add((item, error));
        }
    }

    /// <summary>
    /// Runs every few milliseconds: kills workers whose task overran its time-out, that did not begin
    /// the work they were handed within it (frozen or stopped: their never-started tasks then go to
    /// another worker), or whose cancelled task ignored its token.
    /// </summary>
    private void CheckDeadlines(object? state)
    {
        var kills = new List<(WorkerConnection, string)>();
        List<Action>? logs = null;
        lock (_gate)
        {
            long now = Stopwatch.GetTimestamp();
            foreach (WorkerSlot slot in _slots)
            {
                if (slot.Connection is not { } connection || slot.InFlight.Count == 0 || slot.State is SlotState.Dead or SlotState.Starting)
                {
                    continue;
                }
                if (!connection.Status.TryReadCurrent(out long started, out long startedAt))
                {
                    continue;
                }
                if (started != slot.SeenStarted || slot.ItemsCompleted != slot.SeenCompleted)
                {
                    (slot.SeenStarted, slot.SeenCompleted, slot.ProgressAt) = (started, slot.ItemsCompleted, now);
                }
                WorkItem oldest = slot.InFlight.Peek();
                Debug.Assert(oldest.Slot == slot && oldest.HandedAt != 0, "every item in flight was handed to this slot");
                if (started <= oldest.StartOffset)
                {
                    // Nothing it holds has begun, so no task's own deadline runs: without this the
                    // callers of a frozen worker's tasks would wait until it is resumed. A free
                    // worker begins a unit at once (a cold one after loading the task's method).
                    if (_options.TaskTimeout is TimeSpan taskTimeout && !slot.Unresponsive && slot.TimedOut is null)
                    {
                        TimeSpan limit = taskTimeout > MinTimeToTakeWork ? taskTimeout : MinTimeToTakeWork;
                        TimeSpan waited = Stopwatch.GetElapsedTime(Math.Max(oldest.HandedAt, slot.ProgressAt), now);
                        if (waited > limit)
                        {
                            slot.Unresponsive = true;
                            kills.Add((connection, $"it took no work for {waited.TotalSeconds:0.0} s after it was handed a task (it has the TaskTimeout, at least {MinTimeToTakeWork.TotalSeconds:0} s, to begin one): frozen or stopped?"));
                        }
                    }
                    continue;
                }
                long running = started - 1;
                WorkItem? unit = null;
                foreach (WorkItem item in slot.InFlight)
                {
                    if (item.StartOffset <= running && running < item.StartOffset + item.Count)
                    {
                        unit = item;
                        break;
                    }
                }
                if (unit is null)
                {
                    continue;
                }
                TimeSpan elapsed = Stopwatch.GetElapsedTime(startedAt, now);
                if (unit.State == WorkState.Assigned && _options.TaskTimeout is TimeSpan timeout && elapsed > timeout && slot.TimedOut is null)
                {
                    slot.TimedOut = (unit, (int)(running - unit.StartOffset));
                    slot.RecycleReason ??= RecycleReason.TaskTimeout;
                    kills.Add((connection, $"a task exceeded the TaskTimeout of {timeout.TotalSeconds:0.###} s"));
                    (int pid, string task, long? index) = (connection.ProcessId, unit.Method.Method.DisplayName, unit.ItemIndex((int)(running - unit.StartOffset)));
                    (logs ??= []).Add(() => PoolLog.TaskTimedOut(_logger, pid, PoolLog.Running(task, index), timeout.TotalSeconds, task, index));
                }
                else if (unit.State == WorkState.Abandoned && Stopwatch.GetElapsedTime(unit.AbandonedAt, now) > _options.CancellationGracePeriod)
                {
                    kills.Add((connection, $"its task was cancelled and did not return within the CancellationGracePeriod of {_options.CancellationGracePeriod.TotalSeconds:0.###} s"));
                    if (slot.RecycleReason is null)
                    {
                        // The kill repeats every tick until the reader thread reports the exit; the event is logged once.
                        slot.RecycleReason = RecycleReason.CancellationGracePeriod;
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
