using System.Diagnostics;
using Multiprocessing.Payload;

namespace Multiprocessing.Scheduling;

/// <summary>Counts what happens to work items (the pool's metrics). Called outside the scheduler's lock.</summary>
internal interface IWorkMeter
{
    void Submitted(int items);

    void Completed(WorkItem item, long elapsedTicks);

    void Failed(WorkItem item);
}

/// <summary>
/// Owns the work of one pool: the queue, the executors, every work item's state, assignment, result
/// hand-off, requeue of work an executor lost, and the end of it all. One lock (<see cref="Gate"/>)
/// guards all of it. Executors (worker processes, remote nodes) only carry items and report back;
/// how they start, fail and are replaced is their owner's business, which shares this lock.
/// </summary>
/// <remarks>
/// Invariants under the lock, asserted where they matter: an item is in at most one place (the
/// queue, the retry list, or one executor's <see cref="Executor.InFlight"/>); an item in an
/// executor's list has that executor as <see cref="WorkItem.Executor"/> and is Assigned or
/// Abandoned; the count of items in executors' hands is the sum of those lists' lengths.
/// </remarks>
internal sealed class Scheduler(IWorkMeter meter, string poolTypeName)
{
    private readonly List<Executor> _executors = [];
    private readonly Queue<WorkItem> _queue = new();
    // Work taken back from a lost executor goes before new work, in its original order.
    private readonly LinkedList<WorkItem> _retry = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _executorsChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _inFlightTotal;
    private long _queuedItems;

    /// <summary>The lock over everything here, shared with the executors' owner.</summary>
    public Lock Gate { get; } = new();

    public IWorkMeter Meter { get; } = meter;

    /// <summary>The executors, in the order they were added. Read and change under the lock.</summary>
    public IReadOnlyList<Executor> Executors => _executors;

    /// <summary>Set by <see cref="Close"/>: no new work is taken. Under the lock.</summary>
    public bool IsClosed { get; private set; }

    /// <summary>Set by <see cref="Fault"/>: why no new work is taken. Under the lock.</summary>
    public Exception? Fault { get; private set; }

    /// <summary>Items queued and not yet handed to an executor (some may be abandoned).</summary>
    public long QueuedItems
    {
        get
        {
            lock (Gate)
            {
                return _queuedItems;
            }
        }
    }

    /// <summary>Completes once the scheduler is closed and no executor holds an item.</summary>
    public Task Drained => _drained.Task;

    /// <summary>Completes the next time an executor is added, becomes ready, or is lost, or the scheduler faults. Read under the lock.</summary>
    public Task ExecutorsChanged => _executorsChanged.Task;

    /// <summary>Whether items wait for an executor (some may be abandoned, which <see cref="DequeueNext"/> drops). Under the lock.</summary>
    public bool HasQueuedWork => _queue.Count > 0 || _retry.Count > 0;

    /// <summary>Adds an executor (it takes work once it is <see cref="ExecutorState.Ready"/>). Under the lock.</summary>
    public void Add(Executor executor)
    {
        Debug.Assert(Gate.IsHeldByCurrentThread);
        Debug.Assert(!_executors.Contains(executor));
        _executors.Add(executor);
    }

    /// <summary>Marks a starting executor ready and gives it work. Under the lock; the executor flushes afterwards.</summary>
    /// <returns>Whether it was starting (and is now ready).</returns>
    public bool MarkReady(Executor executor)
    {
        Debug.Assert(Gate.IsHeldByCurrentThread);
        bool becameReady = executor.State == ExecutorState.Starting;
        if (becameReady)
        {
            executor.State = ExecutorState.Ready;
            SignalExecutorsChanged();
        }
        Assign(executor);
        return becameReady;
    }

    /// <summary>Removes an executor that never took work (it failed to start or the pool ended first). Under the lock.</summary>
    public void Remove(Executor executor)
    {
        Debug.Assert(Gate.IsHeldByCurrentThread);
        Debug.Assert(executor.InFlight.Count == 0, "an executor that holds work is lost, not removed");
        executor.State = ExecutorState.Dead;
        _executors.Remove(executor);
        SignalExecutorsChanged();
    }

    /// <summary>Queues a work item and hands work to executors with room.</summary>
    /// <param name="item">The work.</param>
    /// <param name="flush">
    /// False to leave what it queued on the executors until <see cref="FlushAll"/> (or any other flush
    /// of those executors): a producer of a burst of tiny items then sends them in one write per
    /// executor instead of one each.
    /// </param>
    public void Enqueue(WorkItem item, bool flush = true)
    {
        Meter.Submitted(item.Count);
        Exception? refusal = null;
        List<Executor>? touched = null;
        lock (Gate)
        {
            if (IsClosed)
            {
                refusal = new ObjectDisposedException(poolTypeName);
            }
            else if (Fault is not null)
            {
                refusal = Fault;
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
            Fail(item, refusal);
            return;
        }
        if (flush)
        {
            Flush(touched);
        }
    }

    /// <summary>Writes what is queued on every executor (see <see cref="Enqueue"/>).</summary>
    public void FlushAll()
    {
        Executor[] executors;
        lock (Gate)
        {
            executors = [.. _executors];
        }
        foreach (Executor executor in executors)
        {
            executor.Flush();
        }
    }

    /// <summary>The caller no longer wants <paramref name="item"/>: drop it if queued, ask its executor to stop it if running.</summary>
    public void Abandon(WorkItem item)
    {
        Executor? holder = null;
        lock (Gate)
        {
            switch (item.State)
            {
                case WorkState.Queued:
                    item.State = WorkState.Abandoned;
                    break;
                case WorkState.Assigned:
                    item.State = WorkState.Abandoned;
                    item.AbandonedAt = Stopwatch.GetTimestamp();
                    holder = item.Executor;
                    holder?.Cancel(item);
                    break;
            }
        }
        holder?.Flush();
    }

    /// <summary>Gives <paramref name="executor"/> work up to its capacity (at most <paramref name="limit"/> items in flight). Under the lock; flush afterwards.</summary>
    /// <returns>Whether it was given work.</returns>
    public bool Assign(Executor executor, int limit = int.MaxValue)
    {
        Debug.Assert(Gate.IsHeldByCurrentThread);
        if (executor.State != ExecutorState.Ready)
        {
            return false;
        }
        int capacity = Math.Min(executor.Capacity, limit);
        if (executor.TopsUpInBatches && limit == int.MaxValue && executor.InFlight.Count > capacity / 2)
        {
            return false;
        }
        bool given = false;
        // Sending can retire the executor (a worker at MaxTasksPerWorker): it then takes no more.
        while (executor.InFlight.Count < capacity && executor.State == ExecutorState.Ready && DequeueNext() is { } item)
        {
            Debug.Assert(item.Executor is null && item.State == WorkState.Queued);
            item.State = WorkState.Assigned;
            item.Executor = executor;
            item.HandedAt = Stopwatch.GetTimestamp();
            item.StartOffset = executor.ItemsAssigned;
            executor.ItemsAssigned += item.Count;
            executor.InFlight.Add(item);
            _inFlightTotal++;
            executor.Send(item);
            given = true;
        }
        return given;
    }

    /// <summary>
    /// Hands queued work to every executor with room: first one item to each idle executor, then
    /// the others are topped up to their capacity. Under the lock.
    /// </summary>
    /// <remarks>
    /// Idle executors first: pipelining a task to a busy worker while another sits idle delays it for
    /// nothing, and two tasks that wait for each other (a barrier) would deadlock on one worker.
    /// The loops index the list because sending can retire a worker (MaxTasksPerWorker), whose owner
    /// then adds its replacement to the list (a new executor is Starting and takes no work).
    /// </remarks>
    /// <returns>The executors that now have something to flush (after the lock), or null.</returns>
    public List<Executor>? AssignAll()
    {
        Debug.Assert(Gate.IsHeldByCurrentThread);
        List<Executor>? touched = null;
        for (int i = 0; i < _executors.Count && HasQueuedWork; i++)
        {
            Executor executor = _executors[i];
            if (executor.InFlight.Count == 0 && Assign(executor, limit: 1))
            {
                (touched ??= []).Add(executor);
            }
        }
        for (int i = 0; i < _executors.Count && HasQueuedWork; i++)
        {
            Executor executor = _executors[i];
            if (Assign(executor) && touched?.Contains(executor) != true)
            {
                (touched ??= []).Add(executor);
            }
        }
        return touched;
    }

    /// <summary>Flushes the executors <see cref="AssignAll"/> touched. Outside the lock.</summary>
    public static void Flush(List<Executor>? executors)
    {
        if (executors is null)
        {
            return;
        }
        foreach (Executor executor in executors)
        {
            executor.Flush();
        }
    }

    /// <summary>
    /// <paramref name="executor"/> finished <paramref name="item"/>: it leaves the executor's hands.
    /// Under the lock. The executor then delivers the outcome (<see cref="DeliverResult"/> or
    /// <see cref="Fail"/>) outside it, when this returns true.
    /// </summary>
    /// <returns>Whether the caller still wants the outcome (false when it abandoned the item).</returns>
    public bool Complete(Executor executor, WorkItem item)
    {
        Debug.Assert(Gate.IsHeldByCurrentThread);
        Debug.Assert(item.Executor == executor && item.State is WorkState.Assigned or WorkState.Abandoned);
        bool removed = executor.InFlight.Remove(item);
        Debug.Assert(removed, "a completed item was in its executor's hands");
        _inFlightTotal--;
        bool deliver = item.State == WorkState.Assigned;
        item.State = WorkState.Done;
        executor.ItemsCompleted += item.Count;
        CheckDrained();
        return deliver;
    }

    /// <summary>
    /// <paramref name="executor"/> is gone. Each item it held that the caller still wants is either
    /// requeued at the front (when <paramref name="decide"/> returns null) or failed with the
    /// exception it returns, added to <paramref name="failed"/> for <see cref="ReportFailed"/> after
    /// the lock. Under the lock; the caller then starts any replacement and calls
    /// <see cref="AssignAll"/>.
    /// </summary>
    public void Lost(Executor executor, Func<WorkItem, Exception?> decide, List<(WorkItem Item, Exception Error)> failed)
    {
        Debug.Assert(Gate.IsHeldByCurrentThread);
        executor.State = ExecutorState.Dead;
        _executors.Remove(executor);
        var requeue = new List<WorkItem>();
        foreach (WorkItem item in executor.InFlight)
        {
            Debug.Assert(item.Executor == executor);
            _inFlightTotal--;
            if (item.State != WorkState.Assigned)
            {
                item.State = WorkState.Done;
                continue;
            }
            if (decide(item) is { } error)
            {
                item.State = WorkState.Done;
                failed.Add((item, error));
            }
            else
            {
                item.State = WorkState.Queued;
                item.Executor = null;
                _queuedItems += item.Count;
                requeue.Add(item);
            }
        }
        executor.InFlight.Clear();
        for (int i = requeue.Count - 1; i >= 0; i--)
        {
            _retry.AddFirst(requeue[i]);
        }
        if (IsClosed)
        {
            FailQueued(failed, new ObjectDisposedException(poolTypeName, "The pool was disposed before this task ran."));
        }
        SignalExecutorsChanged();
        CheckDrained();
    }

    /// <summary>Stops taking work because the pool cannot run any (its workers cannot start): fails what is queued and every later call. Returns false if it had already faulted.</summary>
    public bool TryFault(Exception error)
    {
        var failed = new List<(WorkItem, Exception)>();
        lock (Gate)
        {
            if (Fault is not null)
            {
                return false;
            }
            Fault = error;
            FailQueued(failed, error);
            SignalExecutorsChanged();
        }
        ReportFailed(failed);
        return true;
    }

    /// <summary>
    /// Fails every item still waiting for an executor, without closing: a cluster with no node left
    /// for its bounded wait fails what waits, and takes work again when a node joins.
    /// </summary>
    public void FailWaiting(Exception error)
    {
        var failed = new List<(WorkItem, Exception)>();
        lock (Gate)
        {
            FailQueued(failed, error);
        }
        ReportFailed(failed);
    }

    /// <summary>Takes no more work and fails what is queued; <see cref="Drained"/> completes when executors hold nothing. Returns false if already closed.</summary>
    public bool Close()
    {
        var failed = new List<(WorkItem, Exception)>();
        lock (Gate)
        {
            if (IsClosed)
            {
                return false;
            }
            IsClosed = true;
            FailQueued(failed, new ObjectDisposedException(poolTypeName, "The pool was disposed before this task ran."));
            CheckDrained();
        }
        ReportFailed(failed);
        return true;
    }

    /// <summary>Hands a successful outcome to the item's owner and counts it. Outside the lock; the owner's read errors propagate to the caller.</summary>
    public void DeliverResult(WorkItem item, ref PayloadReader results, long elapsedTicks)
    {
        item.Owner.OnResult(item, ref results, elapsedTicks);
        Meter.Completed(item, elapsedTicks);
    }

    /// <summary>Fails one item: counts it and tells its owner. Outside the lock.</summary>
    public void Fail(WorkItem item, Exception error)
    {
        Meter.Failed(item);
        item.Owner.OnError(item, error);
    }

    /// <summary>Fails the items <see cref="Lost"/> or a fault collected. Outside the lock.</summary>
    public void ReportFailed(List<(WorkItem Item, Exception Error)> failed)
    {
        foreach ((WorkItem item, Exception error) in failed)
        {
            Fail(item, error);
        }
    }

    private WorkItem? DequeueNext()
    {
        Debug.Assert(Gate.IsHeldByCurrentThread);
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

    private void FailQueued(List<(WorkItem, Exception)> failed, Exception error)
    {
        Debug.Assert(Gate.IsHeldByCurrentThread);
        while (DequeueNext() is { } item)
        {
            item.State = WorkState.Done;
            failed.Add((item, error));
        }
    }

    /// <summary>Wakes those waiting on <see cref="ExecutorsChanged"/>. Under the lock.</summary>
    public void SignalExecutorsChanged()
    {
        Debug.Assert(Gate.IsHeldByCurrentThread);
        Interlocked.Exchange(ref _executorsChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    private void CheckDrained()
    {
        Debug.Assert(_inFlightTotal == _executors.Sum(e => e.InFlight.Count), "the in-flight count is the sum of the executors' lists");
        if (IsClosed && _inFlightTotal == 0)
        {
            _drained.TrySetResult();
        }
    }
}
