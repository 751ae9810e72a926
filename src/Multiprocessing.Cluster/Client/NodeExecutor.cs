using System.Runtime.Serialization;
using Multiprocessing.Cluster.Node;
using Multiprocessing.Payload;
using Multiprocessing.Scheduling;
using Orleans.Runtime;

namespace Multiprocessing.Cluster.Client;

/// <summary>
/// One remote node as an executor of the client's scheduler: each work item it is handed becomes
/// one grain call that runs the chunk on the node's local pool. It holds at most its capacity
/// (the node's workers times <see cref="ClusterPoolOptions.ChunksPerWorker"/>), so a slow node does
/// not hoard the tail of a map, and a node with more workers takes more.
/// </summary>
internal sealed class NodeExecutor(ClusterPool pool, Scheduler scheduler, string address, string name, INodeGrain grain, IGrainFactory grains, int chunksPerWorker) : Executor
{
    /// <summary>Sink keys tried before a transfer sends through the node's own grain (each lands on a given node's gateway with even odds among the gateways).</summary>
    internal const int SinkProbes = 24;

    // Under the scheduler's lock: what Send and Cancel queued for Flush.
    private readonly List<WorkItem> _toSend = [];
    private readonly List<CancellationTokenSource> _toCancel = [];
    private readonly Dictionary<WorkItem, Call> _calls = [];

    // The shared arrays sent (or being sent) to this node, by the client's id for them: one transfer per array per node.
    private readonly Dictionary<Guid, Task> _transfers = [];

    private IPieceSinkGrain? _sink;
    private long _piecesThroughSink;

    public string Address { get; } = address;

    public string Name { get; private set; } = name;

    public INodeGrain Grain { get; } = grain;

    /// <summary>The node's last answer to a status poll, or null before its first.</summary>
    public NodeStatus? Status { get; private set; }

    /// <summary>Polls that failed in a row.</summary>
    public int FailedPolls;

    public override int Capacity => Math.Max(1, (Status?.Workers ?? 1) * chunksPerWorker);

    // Every item is its own call: nothing is gained by holding items back to send them together.
    public override bool TopsUpInBatches => false;

    public ClusterNodeInfo ToInfo() =>
        new(Status?.Name ?? Name, Address, Status?.Workers ?? 0, Status?.BusyWorkers ?? 0, Status?.MemoryBytes ?? -1, Status?.ProcessId ?? 0)
        {
            SharedDataTransfers = Status?.SharedDataTransfers ?? 0,
            SharedDataBytes = Status?.SharedDataBytes ?? 0,
        };

    /// <summary>Records a status the node sent. Under the scheduler's lock.</summary>
    public void Update(NodeStatus status)
    {
        Status = status;
        Name = status.Name;
        FailedPolls = 0;
    }

    public override void Send(WorkItem item) => _toSend.Add(item);

    public override void Cancel(WorkItem item)
    {
        if (_calls.TryGetValue(item, out Call? call))
        {
            _toCancel.Add(call.Cancellation);
        }
    }

    public override void Flush()
    {
        (WorkItem Item, Call Call)[] send;
        CancellationTokenSource[] cancel;
        lock (scheduler.Gate)
        {
            send = new (WorkItem, Call)[_toSend.Count];
            for (int i = 0; i < send.Length; i++)
            {
                var call = new Call(pool.NextCallNumber());
                _calls[_toSend[i]] = call;
                send[i] = (_toSend[i], call);
            }
            cancel = [.. _toCancel];
            _toSend.Clear();
            _toCancel.Clear();
        }
        foreach (CancellationTokenSource call in cancel)
        {
            // Orleans carries the cancellation to the grain, whose pool cancels the chunk in its worker.
            call.Cancel();
        }
        foreach ((WorkItem item, Call call) in send)
        {
            _ = RunAsync(item, call);
        }
    }

    /// <summary>
    /// Compares the calls out to this node with those it says it is running (<paramref name="status"/>,
    /// asked at <paramref name="askedAt"/>). A call sent before the client last lost a route into the
    /// cluster (<paramref name="routeLostAt"/>: a gateway connection closed or a node was lost) may have
    /// gone through the gateway that died, and Orleans does not fail calls stranded there before its
    /// response timeout; one the node does not hold in two answers in a row is sent again, through a
    /// live gateway. So is one older than Orleans' response timeout (sent before
    /// <paramref name="staleBefore"/>) that the node does not hold: where Orleans would have failed
    /// it, the node is asked instead, so a chunk that runs for minutes is left to run. Under the
    /// scheduler's lock; flush afterwards.
    /// </summary>
    /// <returns>How many calls were sent again.</returns>
    public int Reconcile(NodeStatus status, long askedAt, long routeLostAt, long staleBefore)
    {
        int resent = 0;
        HashSet<long>? running = null;
        foreach ((WorkItem item, Call call) in _calls)
        {
            // A call that reached the node before its status was asked is listed, unless it is done and
            // its result is on its way: the second answer, half a second later, tells the two apart.
            if ((call.SentAt >= routeLostAt && call.SentAt >= staleBefore) || call.SentAt >= askedAt || item.State != WorkState.Assigned)
            {
                continue;
            }
            running ??= [.. status.RunningCalls];
            if (running.Contains(call.Number))
            {
                call.Misses = 0;
            }
            else if (++call.Misses >= 2)
            {
                call.Superseded = true;
                _toCancel.Add(call.Cancellation);
                _calls.Remove(item);
                _toSend.Add(item);
                resent++;
            }
        }
        return resent;
    }

    private async Task RunAsync(WorkItem item, Call call)
    {
        ChunkOutcome? outcome = null;
        ChunkRequest request = pool.Request(item, call.Number);
        if (request.SharedData is { Length: > 0 } shared)
        {
            try
            {
                await SendSharedAsync(shared).WaitAsync(call.Cancellation.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (!call.Cancellation.IsCancellationRequested && !IsNodeLoss(e))
            {
                // The caller disposed the array, or the node could not hold a copy (out of memory):
                // the task fails with why; the node is fine and keeps its other work.
                outcome = new ChunkOutcome { Fault = new NodeFault { Kind = NodeFaultKind.Other, Message = $"A shared array the task reads could not be copied to node {Name}: {e.GetType().Name}: {e.Message}" } };
            }
            catch (Exception e) when (!call.Cancellation.IsCancellationRequested)
            {
                if (!IsSuperseded(call))
                {
                    pool.Lose(this, $"sending it a shared array failed: {e.GetType().Name}: {e.Message}");
                }
                return;
            }
            catch (Exception)
            {
                outcome = new ChunkOutcome { Fault = new NodeFault { Kind = NodeFaultKind.Cancelled, Message = "The task was cancelled." } };
            }
        }
        try
        {
            if (outcome is null)
            {
                Volatile.Write(ref call.SentAt, System.Diagnostics.Stopwatch.GetTimestamp());
                outcome = await Grain.RunAsync(request, call.Cancellation.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (!call.Cancellation.IsCancellationRequested)
        {
            // The call itself failed: the node left, died or cannot be reached. Its work goes elsewhere.
            // (Not if the call had been replaced: then it was lost on the way, not the node.)
            if (!IsSuperseded(call))
            {
                pool.Lose(this, $"a call to it failed: {e.GetType().Name}: {e.Message}");
            }
            return;
        }
        catch (Exception)
        {
            outcome = new ChunkOutcome { Fault = new NodeFault { Kind = NodeFaultKind.Cancelled, Message = "The task was cancelled." } };
        }
        if (outcome.Fault is { Kind: NodeFaultKind.NodeStopping or NodeFaultKind.SharedDataMissing } stopping)
        {
            pool.Lose(this, stopping.Message);
            return;
        }
        bool deliver;
        lock (scheduler.Gate)
        {
            if (call.Superseded)
            {
                // Sent again (see Reconcile): the new call delivers.
                return;
            }
            _calls.Remove(item, out _);
            // Lost meanwhile: the scheduler already requeued or failed the item.
            if (item.Executor != this || !InFlight.Contains(item))
            {
                return;
            }
            deliver = scheduler.Complete(this, item);
            scheduler.Assign(this);
        }
        Flush();
        if (!deliver)
        {
            return;
        }
        if (outcome.Fault is { } fault)
        {
            scheduler.Fail(item, fault.ToException(Name));
            return;
        }
        try
        {
            var reader = new PayloadReader(outcome.Results);
            scheduler.DeliverResult(item, ref reader, outcome.ElapsedTicks);
        }
        catch (Exception e) when (e is InvalidDataException or SerializationException or System.Text.Json.JsonException)
        {
            scheduler.Fail(item, new SerializationException($"The result of {item.Method.Method.DisplayName} could not be read back from node {Name}: {e.Message}", e));
        }
    }

    private bool IsSuperseded(Call call)
    {
        lock (scheduler.Gate)
        {
            return call.Superseded;
        }
    }

    /// <summary>Waits until every array a chunk reads is on this node, sending those that are not (once, whoever asks first).</summary>
    private Task SendSharedAsync(SharedDataRef[] shared)
    {
        var sends = new Task[shared.Length];
        lock (_transfers)
        {
            for (int i = 0; i < shared.Length; i++)
            {
                if (!_transfers.TryGetValue(shared[i].Id, out Task? send) || send.IsFaulted || send.IsCanceled)
                {
                    send = TransferAsync(pool.SharedData.Get(shared[i].Id));
                    _transfers[shared[i].Id] = send;
                }
                sends[i] = send;
            }
        }
        return Task.WhenAll(sends);
    }

    /// <summary>
    /// Copies one array to the node in pieces of <see cref="ClientSharedData.PieceSize"/>, a few in
    /// flight, each checked on the node against its XxHash3 (a piece that fails is sent once more),
    /// then has the node make the copy usable.
    /// </summary>
    private async Task TransferAsync(ClientSharedData.Entry array)
    {
        await Task.Yield();
        for (int attempt = 1; ; attempt++)
        {
            if (await Grain.BeginSharedDataAsync(pool.ClientId, array.Id, array.Length).ConfigureAwait(false))
            {
                return;
            }
            var route = new PieceRoute(await SinkAsync().ConfigureAwait(false));
            // A few pieces in flight (the node's grain takes calls interleaved): one at a time waits a round trip per piece.
            var inFlight = new Queue<(long At, int Count, Task<bool> Written)>();
            for (long at = 0; at < array.Length; at += ClientSharedData.PieceSize)
            {
                if (inFlight.Count == ClientSharedData.PiecesInFlight)
                {
                    await CheckedAsync(inFlight.Dequeue(), route).ConfigureAwait(false);
                }
                int count = (int)Math.Min(ClientSharedData.PieceSize, array.Length - at);
                inFlight.Enqueue((at, count, SendPiece(array, at, count, route)));
            }
            while (inFlight.TryDequeue(out var piece))
            {
                await CheckedAsync(piece, route).ConfigureAwait(false);
            }
            if (await Grain.CommitSharedDataAsync(pool.ClientId, array.Id).ConfigureAwait(false))
            {
                return;
            }
            if (attempt == 2)
            {
                throw new InvalidDataException($"A shared array of {array.Length} bytes was incomplete on node {Name} after its pieces were sent, twice.");
            }
        }

        async Task CheckedAsync((long At, int Count, Task<bool> Written) piece, PieceRoute route)
        {
            if (!await piece.Written.ConfigureAwait(false) && !await SendPiece(array, piece.At, piece.Count, route).ConfigureAwait(false))
            {
                throw new InvalidDataException($"The piece at {piece.At} of a shared array of {array.Length} bytes arrived at node {Name} with a different checksum, twice.");
            }
        }
    }

    private async Task<bool> SendPiece(ClientSharedData.Entry array, long at, int count, PieceRoute route)
    {
        if (route.Sink is { } sink)
        {
            PieceReceipt receipt = await SendPiece(array, at, count, (piece, checksum) => sink.WriteAsync(Address, pool.ClientId, array.Id, at, piece, checksum)).ConfigureAwait(false);
            if (receipt != PieceReceipt.WrongNode)
            {
                Interlocked.Increment(ref _piecesThroughSink);
                return receipt == PieceReceipt.Written;
            }
            // The key's calls now go through another gateway (its connection was replaced): the rest
            // of this transfer goes to the node's grain, and the next transfer looks for a sink again.
            route.Sink = null;
            Interlocked.CompareExchange(ref _sink, null, sink);
        }
        return await SendPiece(array, at, count, (piece, checksum) => Grain.WriteSharedDataAsync(pool.ClientId, array.Id, at, piece, checksum)).ConfigureAwait(false);
    }

    private static async Task<T> SendPiece<T>(ClientSharedData.Entry array, long at, int count, Func<SharedPiece, ulong, Task<T>> call)
    {
        var piece = new SharedPiece(array.Read(at, count, out ulong checksum));
        try
        {
            return await call(piece, checksum).ConfigureAwait(false);
        }
        finally
        {
            // Orleans' codec took the blocks if the call's message was serialized; if it never was
            // (the call failed first, or threw here), they go back to their pool now.
            piece.Release();
        }
    }

    /// <summary>
    /// A piece sink whose calls land on this node's own gateway (<see cref="IPieceSinkGrain"/>), found
    /// by probing random keys; null if none did within <see cref="SinkProbes"/> (the pieces then go to the
    /// node's grain, through whichever gateway Orleans picks).
    /// </summary>
    private async Task<IPieceSinkGrain?> SinkAsync()
    {
        if (Volatile.Read(ref _sink) is { } known)
        {
            return known;
        }
        for (int probe = 0; probe < SinkProbes; probe++)
        {
            IPieceSinkGrain sink = grains.GetGrain<IPieceSinkGrain>(Random.Shared.NextInt64());
            try
            {
                if (await sink.NodeAddressAsync().ConfigureAwait(false) == Address)
                {
                    Volatile.Write(ref _sink, sink);
                    return sink;
                }
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                // That key's gateway failed the call: another key may land elsewhere; the node's grain is the last resort.
            }
        }
        return null;
    }

    /// <summary>Where one transfer sends its pieces: a sink on the node's own gateway, or (null) the node's grain.</summary>
    private sealed class PieceRoute(IPieceSinkGrain? sink)
    {
        public IPieceSinkGrain? Sink { get; set; } = sink;
    }

    /// <summary>Pieces this node took through a sink on its own gateway (tests look).</summary>
    internal long PiecesThroughSink => Interlocked.Read(ref _piecesThroughSink);

    /// <summary>The caller disposed an array: tell the node to drop its copy.</summary>
    public async Task ForgetSharedAsync(Guid id)
    {
        bool sent;
        lock (_transfers)
        {
            sent = _transfers.Remove(id);
        }
        if (sent)
        {
            await Grain.ReleaseSharedDataAsync(pool.ClientId, id).ConfigureAwait(false);
        }
    }

    /// <summary>Stops the calls still out to a node that is gone. Under the scheduler's lock.</summary>
    public void AbandonCalls()
    {
        foreach (Call call in _calls.Values)
        {
            _toCancel.Add(call.Cancellation);
        }
        _calls.Clear();
    }

    /// <summary>One grain call that runs a work item; a lost call is replaced by a new one for the same item.</summary>
    private sealed class Call(long number)
    {
        public readonly CancellationTokenSource Cancellation = new();

        /// <summary>The client's number for it, which the node lists while it runs the chunk.</summary>
        public readonly long Number = number;

        /// <summary>When the grain call was made (after any shared arrays reached the node); long.MaxValue until then.</summary>
        public long SentAt = long.MaxValue;

        /// <summary>Node answers in a row that did not list it. Under the scheduler's lock.</summary>
        public int Misses;

        /// <summary>Replaced by a new call; its outcome, if one comes, is dropped. Under the scheduler's lock.</summary>
        public bool Superseded;
    }

    /// <summary>Whether an error from a call means the node is lost.</summary>
    public static bool IsNodeLoss(Exception error) =>
        error is SiloUnavailableException or OrleansMessageRejectionException or Orleans.Runtime.Messaging.ConnectionFailedException or TimeoutException or NodeLostException;
}
