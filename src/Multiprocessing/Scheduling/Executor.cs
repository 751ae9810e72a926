namespace Multiprocessing.Scheduling;

/// <summary>Where an executor is in its life, as the scheduler sees it.</summary>
internal enum ExecutorState
{
    /// <summary>Being started or connected; takes no work yet.</summary>
    Starting,

    /// <summary>Takes work up to its <see cref="Executor.Capacity"/>.</summary>
    Ready,

    /// <summary>Takes no new work (a worker recycled for its task count or memory); stopped once its work is done.</summary>
    Retiring,

    /// <summary>Told to stop; its remaining work, if any, is the scheduler's to requeue or fail when it is lost.</summary>
    Stopping,

    /// <summary>Gone: <see cref="Scheduler.Lost"/> has settled its work.</summary>
    Dead,
}

/// <summary>
/// One place that runs work items for a <see cref="Scheduler"/>: a worker process of this machine's
/// pool, or (in the cluster package) a remote node. The scheduler decides what an executor holds;
/// the executor only carries items there and brings their outcomes back.
/// </summary>
/// <remarks>
/// The fields and <see cref="Send"/> / <see cref="Cancel"/> belong to the scheduler's lock: they queue
/// bytes and never block. <see cref="Flush"/> writes what they queued and runs after the lock is
/// released, so a slow socket never holds up the scheduler. An executor reports each finished item with
/// <see cref="Scheduler.Complete"/> and hands its outcome to the item's owner with
/// <see cref="Scheduler.DeliverResult"/> or <see cref="Scheduler.Fail"/>, and reports its own end with <see cref="Scheduler.Lost"/>.
/// </remarks>
internal abstract class Executor
{
    /// <summary>Its state; changes under the scheduler's lock.</summary>
    public ExecutorState State = ExecutorState.Starting;

    /// <summary>The items it holds, in the order they were sent. Under the scheduler's lock.</summary>
    public readonly List<WorkItem> InFlight = [];

    /// <summary>Items handed to it so far (a worker recycles after MaxTasksPerWorker of them).</summary>
    public long ItemsAssigned;

    /// <summary>Items it has finished.</summary>
    public long ItemsCompleted;

    /// <summary>How many items it may hold now: the scheduler tops it up to this.</summary>
    public abstract int Capacity { get; }

    /// <summary>
    /// Whether the scheduler tops it up in batches (at most once it has run down to half its
    /// capacity) rather than item by item: for deep queues of tiny items, one write and one wake-up
    /// per half a queue rather than per item.
    /// </summary>
    public virtual bool TopsUpInBatches => Capacity >= 8;

    /// <summary>Queues <paramref name="item"/> to be sent. Under the scheduler's lock; <see cref="Flush"/> sends it.</summary>
    public abstract void Send(WorkItem item);

    /// <summary>Queues a request to stop <paramref name="item"/>, which the caller abandoned. Under the scheduler's lock.</summary>
    public abstract void Cancel(WorkItem item);

    /// <summary>Writes what <see cref="Send"/> and <see cref="Cancel"/> queued. Outside the scheduler's lock.</summary>
    public abstract void Flush();
}
