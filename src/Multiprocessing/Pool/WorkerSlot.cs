using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;
using Multiprocessing.Worker;

namespace Multiprocessing.Pool;

internal enum SlotState
{
    Starting,
    Ready,

    /// <summary>Takes no new work (recycled for its task count or memory); stopped once its work is done.</summary>
    Retiring,
    Stopping,
    Dead,
}

/// <summary>The pool's view of one worker: its connection, the items it holds in order, and its counters. Guarded by the pool's lock.</summary>
internal sealed class WorkerSlot(ProcessPool pool) : IWorkerListener
{
    /// <summary>How long the pool is willing to let a worker's queue run dry; deeper queues hide the round trip.</summary>
    private const double RoundTripTicks = 200e-6;

    public SlotState State = SlotState.Starting;
    public WorkerConnection? Connection;
    public readonly Queue<WorkItem> InFlight = new();
    public readonly HashSet<int> Registered = [];
    public long NextSequence;
    public long ItemsAssigned;
    public long ItemsCompleted;
    public double UnitTicks;
    public bool ReplacementStarted;
    public (WorkItem Item, int Index)? TimedOut;
    public string? FatalMessage;

    // What the deadline timer last saw of the worker's progress (items begun, results received)
    // and when that last changed: a worker that takes no work it was handed is measured from the
    // later of the hand-off and its last sign of life, so one that has just finished a long task
    // is not blamed for the time that task ran.
    public long SeenStarted;
    public long SeenCompleted;
    public long ProgressAt;

    /// <summary>Set when the pool killed the worker for not beginning work it was handed (frozen or stopped).</summary>
    public bool Unresponsive;

    /// <summary>Set when the pool decided to replace this worker on purpose; its exit is then logged as a recycle, not a crash.</summary>
    public RecycleReason? RecycleReason;

    /// <summary>When the slot's process was launched, for the start-up log event.</summary>
    public readonly DateTimeOffset StartTime = DateTimeOffset.UtcNow;
    public readonly long StartTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>How many units this worker may hold: two when units are long, up to 64 when they are tiny.</summary>
    public int Depth => UnitTicks <= 0 ? 2 : (int)Math.Clamp(1 + Math.Ceiling(RoundTripTicks * System.Diagnostics.Stopwatch.Frequency / UnitTicks), 2, 64);

    public void OnFrame(WorkerConnection connection, FrameType type, ref PayloadReader body) => pool.OnFrame(this, connection, type, ref body);

    public void OnDisconnected(WorkerConnection connection, string? protocolError) => pool.OnDisconnected(this, connection, protocolError);
}
