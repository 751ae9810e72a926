using System.Diagnostics;
using System.Runtime.Serialization;
using Multiprocessing.Payload;
using Multiprocessing.Scheduling;
using Multiprocessing.Wire;
using Multiprocessing.Worker;

namespace Multiprocessing.Pool;

/// <summary>
/// One worker process as an executor of the pool's scheduler: it carries units to the worker over
/// its connection and brings their results back in order. Starting, replacing and retiring the
/// process is the <see cref="WorkerFleet"/>'s; the fields here change under the scheduler's lock.
/// </summary>
internal sealed class WorkerExecutor(WorkerFleet fleet) : Executor, IWorkerListener
{
    /// <summary>How long the pool is willing to let a worker's queue run dry; deeper queues hide the round trip.</summary>
    private const double RoundTripTicks = 200e-6;

    private readonly Scheduler _scheduler = fleet.Scheduler;

    public WorkerConnection? Connection;

    /// <summary>Method ids this worker has been taught (a Register frame precedes a method's first unit).</summary>
    public readonly HashSet<int> Registered = [];
    public long NextSequence;
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

    /// <summary>When the process was launched, for the start-up log event.</summary>
    public readonly DateTimeOffset StartTime = DateTimeOffset.UtcNow;
    public readonly long StartTimestamp = Stopwatch.GetTimestamp();

    /// <summary>How many units this worker may hold: two when units are long, up to 64 when they are tiny.</summary>
    public override int Capacity => UnitTicks <= 0 ? 2 : (int)Math.Clamp(1 + Math.Ceiling(RoundTripTicks * Stopwatch.Frequency / UnitTicks), 2, 64);

    /// <summary>The oldest unit it holds: the one it runs or runs next.</summary>
    public WorkItem Oldest => InFlight[0];

    public override void Send(WorkItem item)
    {
        Debug.Assert(_scheduler.Gate.IsHeldByCurrentThread);
        WorkerConnection connection = Connection!;
        if (Registered.Add(item.Method.Id))
        {
            connection.Send(item.Method.RegisterFrame);
        }
        item.Sequence = ++NextSequence;
        Protocol.StampRun(item.Frame, item.Sequence, item.Method.Id);
        connection.Send(item.Frame, item.FrameLength);
        if (fleet.MaxTasksPerWorker is int max && ItemsAssigned >= max)
        {
            fleet.Retire(this, global::Multiprocessing.RecycleReason.MaxTasksPerWorker);
        }
    }

    public override void Cancel(WorkItem item) => Connection?.Send(Protocol.Frame(FrameType.Cancel, w => w.Write(item.Sequence)));

    public override void Flush() => Connection?.Flush();

    public void OnFrame(WorkerConnection connection, FrameType type, ref PayloadReader body)
    {
        switch (type)
        {
            case FrameType.Result:
                OnResult(connection, ref body);
                break;
            case FrameType.PartialResult:
                OnPartialResult(connection, ref body);
                break;
            default:
                fleet.OnFrame(this, connection, type, ref body);
                break;
        }
    }

    public void OnDisconnected(WorkerConnection connection, string? protocolError) => fleet.OnDisconnected(this, connection, protocolError);

    /// <summary>The unit the worker says it finished: it must be the oldest one it holds, as units run in order.</summary>
    private WorkItem Expect(long sequence, string what)
    {
        Debug.Assert(_scheduler.Gate.IsHeldByCurrentThread);
        if (InFlight.Count == 0 || InFlight[0].Sequence != sequence)
        {
            throw new InvalidDataException($"the worker returned {what} for task {sequence}, which it was not running");
        }
        return InFlight[0];
    }

    /// <summary>
    /// Results of the unit a worker is running that did not fit in one frame with the rest: handed to
    /// the item's owner at once, in order; the unit's Result frame brings the last of them.
    /// </summary>
    private void OnPartialResult(WorkerConnection connection, ref PayloadReader body)
    {
        (long sequence, ResultStatus status, _, _, int count) = ResultHeader.Read(ref body);
        WorkItem item;
        lock (_scheduler.Gate)
        {
            item = Expect(sequence, "partial results");
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
            _scheduler.Fail(item, Unreadable(item, connection, e));
            // Its remaining results are of no use; the worker is told to stop the unit, as for a caller's cancellation.
            _scheduler.Abandon(item);
        }
    }

    private void OnResult(WorkerConnection connection, ref PayloadReader body)
    {
        (long sequence, ResultStatus status, long elapsed, long privateBytes, int count) = ResultHeader.Read(ref body);
        WorkItem item;
        bool deliver;
        lock (_scheduler.Gate)
        {
            item = Expect(sequence, "a result");
            if (status == ResultStatus.Ok && count != item.Count - item.PartialCount)
            {
                throw new InvalidDataException($"the worker returned {count} results for task {sequence}, which has {item.Count - item.PartialCount} to come");
            }
            deliver = _scheduler.Complete(this, item);
            if (elapsed > 0)
            {
                UnitTicks = UnitTicks <= 0 ? elapsed : UnitTicks * 0.8 + elapsed * 0.2;
                double perItem = (double)elapsed / Math.Max(1, item.Count);
                item.Method.ItemTicks = item.Method.ItemTicks <= 0 ? perItem : item.Method.ItemTicks * 0.8 + perItem * 0.2;
            }
            fleet.OnUnitDone(this, connection, privateBytes);
            _scheduler.Assign(this);
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
                    _scheduler.DeliverResult(item, ref body, elapsed);
                    break;
                case ResultStatus.Error:
                    _scheduler.Fail(item, fleet.ToException(RemoteError.Read(ref body), item, connection.ProcessId));
                    break;
                default:
                    _scheduler.Fail(item, new OperationCanceledException("The task was cancelled in the worker."));
                    break;
            }
        }
        catch (Exception e) when (e is InvalidDataException or SerializationException or System.Text.Json.JsonException)
        {
            _scheduler.Fail(item, Unreadable(item, connection, e));
        }
    }

    private static SerializationException Unreadable(WorkItem item, WorkerConnection connection, Exception e) =>
        new($"The result of {item.Method.Method.DisplayName} could not be read back from worker {connection.ProcessId}: {e.Message}", e);
}
