using Multiprocessing.Payload;
using Multiprocessing.Wire;

namespace Multiprocessing.Scheduling;

/// <summary>Receives the outcome of its work items. Called on an executor's thread (a worker's reader thread), outside the scheduler's lock.</summary>
internal interface IWorkItemOwner
{
    /// <summary>
    /// The next <paramref name="count"/> results of <paramref name="item"/>, in order, when its results
    /// did not fit in one frame; <see cref="OnResult"/> brings the rest. The pool has checked that
    /// they leave at least one result for it.
    /// </summary>
    void OnPartialResult(WorkItem item, ref PayloadReader results, int count);

    /// <summary>The results of <paramref name="item"/> not brought by <see cref="OnPartialResult"/>: the item is done.</summary>
    void OnResult(WorkItem item, ref PayloadReader results, long elapsedTicks);

    void OnError(WorkItem item, Exception error);
}

internal enum WorkState
{
    Queued,
    Assigned,
    Done,

    /// <summary>The caller stopped waiting (cancelled). A worker that already has it is told to cancel; its result is dropped.</summary>
    Abandoned,
}

/// <summary>
/// A unit of dispatch: a chunk of items (one for a single task) for one method, serialised once
/// into a complete Run frame whose sequence number is stamped when it is sent to a worker.
/// </summary>
internal sealed class WorkItem(RegisteredMethod method, byte[] frame, int frameLength, int count, long firstItem, IWorkItemOwner owner)
{
    public RegisteredMethod Method { get; } = method;

    public byte[] Frame { get; } = frame;

    public int FrameLength { get; } = frameLength;

    public int Count { get; } = count;

    /// <summary>Index of the first item in the caller's input (a map), or -1 for a single task.</summary>
    public long FirstItem { get; } = firstItem;

    public IWorkItemOwner Owner { get; } = owner;

    // The fields below belong to the scheduler and its executors and change only under the scheduler's lock.
    public WorkState State;

    /// <summary>The executor that holds it while <see cref="WorkState.Assigned"/> (or abandoned there), else null.</summary>
    public Executor? Executor;

    /// <summary>The executor's number for it (a worker's per-connection sequence), stamped when it is sent.</summary>
    public long Sequence;

    /// <summary>How many items its executor had been given before it: a worker's count of items begun tells which of its units had started.</summary>
    public long StartOffset;
    public long AbandonedAt;

    /// <summary>When it was sent to its executor (Stopwatch timestamp): a worker that has not begun it a TaskTimeout later is taken for frozen.</summary>
    public long HandedAt;

    /// <summary>How many times it was started on an executor that was then lost (a node that left): bounded by the caller's retry limit.</summary>
    public int Attempts;

    /// <summary>Results delivered by PartialResult frames so far; read and written only on the reader thread of the worker that runs the item.</summary>
    public int PartialCount;

    /// <summary>The owner's store for partial results until the item's Result frame, or null.</summary>
    public object? PartialResults;

    public long? ItemIndex(int indexInChunk) => FirstItem < 0 ? null : FirstItem + indexInChunk;
}

/// <summary>A task method as a pool knows it: an id per pool and the frame that teaches it to a worker.</summary>
internal sealed class RegisteredMethod(int id, TaskMethod method, byte[] registerFrame)
{
    public int Id { get; } = id;

    public TaskMethod Method { get; } = method;

    public byte[] RegisterFrame { get; } = registerFrame;

    /// <summary>Recent time per item, in Stopwatch ticks (0 until measured); guides automatic chunk sizes.</summary>
    public double ItemTicks;
}
