using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Multiprocessing.Cluster.Client;
using Multiprocessing.Cluster.Node;
using Multiprocessing.Payload;
using Multiprocessing.Pool;
using Multiprocessing.Serialization;
using Multiprocessing.Worker;
using Orleans.Configuration;
using Orleans.Runtime;

namespace Multiprocessing.Cluster;

/// <summary>
/// A process pool whose workers are on many machines: each node (an Orleans silo started with
/// <c>mp node</c> or <c>AddProcessPoolNode</c>) runs the chunks it is sent on its own local
/// <see cref="ProcessPool"/>. The same static methods run unchanged on one machine and on many.
/// </summary>
/// <remarks>
/// Membership, failure detection and transport are Orleans'. Nodes are discovered through the
/// cluster's membership and watched by this client; a node that leaves or dies has its unfinished
/// chunks run elsewhere (see <see cref="ClusterPoolOptions.MaxRetries"/>).
/// </remarks>
public sealed class ClusterPool : IAsyncDisposable
{
    /// <summary>How often nodes are polled for their state (and told this client is alive).</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    private readonly ClusterPoolOptions _options;
    private readonly IHost _host;
    private readonly IClusterClient _client;
    private readonly Guid _id = Guid.NewGuid();
    private readonly Lock _gate = new();
    private readonly Dictionary<string, NodeHandle> _nodes = [];
    private readonly CancellationTokenSource _lifetime = new();
    private readonly CodecProvider _codecs = CodecProvider.Default;
    private TaskCompletionSource _nodesChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _watch;
    private int _disposed;

    private ClusterPool(ClusterPoolOptions options, IHost host)
    {
        _options = options;
        _host = host;
        _client = host.Services.GetRequiredService<IClusterClient>();
    }

    /// <summary>Connects to a cluster and waits for its first node.</summary>
    /// <param name="options">How to find the cluster.</param>
    /// <param name="cancellationToken">Stops connecting.</param>
    /// <returns>The connected pool.</returns>
    /// <exception cref="ArgumentException">The options are inconsistent.</exception>
    /// <exception cref="TimeoutException">No gateway answered, or no node joined, within <see cref="ClusterPoolOptions.ConnectTimeout"/>.</exception>
    public static async Task<ClusterPool> ConnectAsync(ClusterPoolOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        IHost host = new HostBuilder()
            .UseOrleansClient(client =>
            {
                if (options.RedisConnectionString is { } redis)
                {
                    client.UseRedisClustering(redis);
                }
                else
                {
                    client.UseLocalhostClustering([.. options.GatewayPorts], options.ServiceId, options.ClusterId);
                }
                client.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = options.ClusterId;
                    o.ServiceId = options.ServiceId;
                });
            })
            .Build();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        var pool = new ClusterPool(options, host);
        try
        {
            await host.StartAsync(timeout.Token).ConfigureAwait(false);
            await pool.RefreshAsync().ConfigureAwait(false);
            pool._watch = pool.WatchAsync();
            await pool.WaitForNodeAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            await pool.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException($"No node of cluster '{options.ClusterId}' could be reached within {options.ConnectTimeout.TotalSeconds:0.#} s ({Describe(options)}). Start one with 'mp node'.");
        }
        catch
        {
            await pool.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return pool;
    }

    private static string Describe(ClusterPoolOptions options) =>
        options.RedisConnectionString is { } redis ? $"Redis membership at {redis}" : $"gateways 127.0.0.1:{string.Join(",", options.GatewayPorts)}";

    /// <summary>The nodes this client counts on, as they last reported (polled every half second).</summary>
    public IReadOnlyList<ClusterNodeInfo> Nodes
    {
        get
        {
            lock (_gate)
            {
                return [.. _nodes.Values.Where(n => !n.Lost && n.Status is not null).Select(n => n.ToInfo())];
            }
        }
    }

    /// <summary>Asks every node for its state now, memory included.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>One entry per node that answered.</returns>
    public async Task<IReadOnlyList<ClusterNodeInfo>> GetNodesAsync(CancellationToken cancellationToken = default)
    {
        await RefreshAsync().ConfigureAwait(false);
        NodeHandle[] nodes;
        lock (_gate)
        {
            nodes = [.. _nodes.Values.Where(n => !n.Lost)];
        }
        var infos = new List<ClusterNodeInfo>();
        foreach (NodeHandle node in nodes)
        {
            try
            {
                NodeStatus status = await node.Grain.GetStatusAsync(_id, includeMemory: true).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                node.Status = status;
                infos.Add(node.ToInfo());
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // A node that does not answer is left out; the watcher decides whether it is lost.
            }
        }
        return infos;
    }

    /// <summary>Reads the cluster's membership and adds the nodes that joined.</summary>
    private async Task RefreshAsync()
    {
        MembershipEntry[] hosts = await _client.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true).ConfigureAwait(false);
        lock (_gate)
        {
            var active = new HashSet<string>();
            foreach (MembershipEntry host in hosts)
            {
                string address = host.SiloAddress.ToParsableString();
                active.Add(address);
                if (!_nodes.ContainsKey(address))
                {
                    _nodes[address] = new NodeHandle(address, host.SiloName, _client.GetGrain<INodeGrain>(address));
                }
            }
            foreach (NodeHandle node in _nodes.Values)
            {
                if (!node.Lost && !active.Contains(node.Address) && node.Status is not null)
                {
                    // Declared dead by the cluster itself.
                    MarkLost(node);
                }
            }
        }
    }

    /// <summary>Polls every node: a node that fails two polls in a row (or leaves the membership) is lost.</summary>
    private async Task WatchAsync()
    {
        using var timer = new PeriodicTimer(PollInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_lifetime.Token).ConfigureAwait(false))
            {
                try
                {
                    await RefreshAsync().ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // No gateway answered this time; node polls below still tell who is alive.
                }
                NodeHandle[] nodes;
                lock (_gate)
                {
                    nodes = [.. _nodes.Values.Where(n => !n.Lost)];
                }
                await Task.WhenAll(nodes.Select(PollAsync)).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
        }
    }

    private async Task PollAsync(NodeHandle node)
    {
        try
        {
            NodeStatus status = await node.Grain.GetStatusAsync(_id, includeMemory: false).WaitAsync(TimeSpan.FromSeconds(2), _lifetime.Token).ConfigureAwait(false);
            lock (_gate)
            {
                bool first = node.Status is null;
                node.Status = status;
                node.Name = status.Name;
                node.FailedPolls = 0;
                if (first)
                {
                    SignalNodesChanged();
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !_lifetime.IsCancellationRequested)
        {
            lock (_gate)
            {
                // A node that never answered may be a silo that is no node (or still starting): it is not counted on yet.
                if (node.Status is not null && ++node.FailedPolls >= 2)
                {
                    MarkLost(node);
                }
            }
        }
    }

    private void MarkLost(NodeHandle node)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        if (node.Lost)
        {
            return;
        }
        node.Lost = true;
        node.Gone.Cancel();
        SignalNodesChanged();
    }

    private void SignalNodesChanged()
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        Interlocked.Exchange(ref _nodesChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>Waits until at least one node is counted on.</summary>
    private async Task WaitForNodeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_nodes.Values.Any(n => !n.Lost && n.Status is not null))
                {
                    return;
                }
                changed = _nodesChanged.Task;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The node with the most free worker slots for its share of the client's chunks, waiting (bounded) for one if none is left.</summary>
    private async Task<NodeHandle> PickNodeAsync(CancellationToken cancellationToken)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        wait.CancelAfter(_options.NodeWaitTimeout);
        try
        {
            while (true)
            {
                Task changed;
                lock (_gate)
                {
                    NodeHandle? best = _nodes.Values
                        .Where(n => !n.Lost && n.Status is { Workers: > 0 })
                        .OrderBy(n => (double)n.InFlight / n.Status!.Workers)
                        .FirstOrDefault();
                    if (best is not null)
                    {
                        best.InFlight++;
                        return best;
                    }
                    changed = _nodesChanged.Task;
                }
                await changed.WaitAsync(wait.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !_lifetime.IsCancellationRequested)
        {
            throw new NodeUnavailableException(
                $"No node of cluster '{_options.ClusterId}' was available for {_options.NodeWaitTimeout.TotalSeconds:0.#} s ({Describe(_options)}): every node has left or died. Start nodes with 'mp node', or raise ClusterPoolOptions.NodeWaitTimeout.");
        }
    }

    /// <summary>
    /// Runs <paramref name="func"/>(<paramref name="argument"/>) in a worker of one of the nodes.
    /// </summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">Serialised here and sent to the node.</param>
    /// <param name="cancellationToken">Cancels the task, in the node's worker too.</param>
    /// <returns>The method's result.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary (at the call).</exception>
    /// <exception cref="System.Runtime.Serialization.SerializationException">The argument cannot be serialised (at the call).</exception>
    /// <exception cref="WorkerException">The method threw.</exception>
    /// <exception cref="WorkerCrashedException">The worker running it died on a live node.</exception>
    /// <exception cref="NodeUnavailableException">No node was left to run it, or it was run on <see cref="ClusterPoolOptions.MaxRetries"/> nodes that all died.</exception>
    public Task<TResult> SubmitAsync<T, TResult>(Func<T, TResult> func, T argument, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        TaskMethod method = TaskMethod.From(func, nameof(func));
        method.EnsureTransferable(_codecs, typeof(T), typeof(TResult), nameof(func));
        var writer = new PayloadWriter(Protocol.RunHeaderSize + 16);
        bool traced = Protocol.BeginRun(writer, Activity.Current);
        ProcessPool.WriteArgument(_codecs, writer, argument, new ProcessPoolOptions().MaxMessageSize, nameof(argument));
        Protocol.EndRun(writer, 1, traced);
        var request = new ChunkRequest
        {
            Method = Describe(method),
            MethodName = method.DisplayName,
            Frame = writer.Buffer.AsSpan(0, writer.Position).ToArray(),
            Count = 1,
            FirstItem = -1,
            Client = _id,
        };
        return SubmitCoreAsync(request, _codecs.Get<TResult>(), cancellationToken);
    }

    private async Task<TResult> SubmitCoreAsync<TResult>(ChunkRequest request, Codec<TResult> results, CancellationToken cancellationToken)
    {
        byte[] bytes = await RunAsync(request, cancellationToken).ConfigureAwait(false);
        var reader = new PayloadReader(bytes);
        return results.Read(ref reader);
    }

    /// <summary>Runs one chunk on some node, again elsewhere if that node is lost, and returns its results as the worker wrote them.</summary>
    internal async Task<byte[]> RunAsync(ChunkRequest request, CancellationToken cancellationToken)
    {
        for (int attempt = 0; ; attempt++)
        {
            NodeHandle node = await PickNodeAsync(cancellationToken).ConfigureAwait(false);
            ChunkOutcome outcome;
            try
            {
                using var call = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, node.Gone.Token);
                outcome = await node.Grain.RunAsync(request, call.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && IsNodeLoss(e, node))
            {
                if (attempt >= _options.MaxRetries)
                {
                    throw new NodeUnavailableException($"{request.MethodName} was started on {attempt + 1} nodes that were all lost before it finished (MaxRetries is {_options.MaxRetries}); last: {node.Name}: {e.Message}", e);
                }
                continue;
            }
            finally
            {
                lock (_gate)
                {
                    node.InFlight--;
                }
            }
            if (outcome.Fault is { Kind: NodeFaultKind.NodeStopping })
            {
                if (attempt >= _options.MaxRetries)
                {
                    throw outcome.Fault.ToException(node.Name);
                }
                continue;
            }
            if (outcome.Fault is { } fault)
            {
                throw fault.ToException(node.Name);
            }
            return outcome.Results!;
        }
    }

    private static bool IsNodeLoss(Exception error, NodeHandle node) =>
        node.Lost || error is SiloUnavailableException or OrleansMessageRejectionException or Orleans.Runtime.Messaging.ConnectionFailedException or TimeoutException or NodeLostException
        || (error is OrleansException && error.Message.Contains("not an active member", StringComparison.Ordinal))
        || (error is OperationCanceledException && node.Gone.IsCancellationRequested);

    /// <summary>What follows the id in the method's Register frame: the description a node's pool registers it under.</summary>
    internal static byte[] Describe(TaskMethod method)
    {
        byte[] frame = method.RegisterFrame(0);
        return frame.AsSpan(Protocol.HeaderSize + sizeof(int)).ToArray();
    }

    /// <summary>Tells the nodes this client is leaving (they cancel its running work) and disconnects.</summary>
    /// <returns>A task that completes when the client has disconnected.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _lifetime.Cancel();
        if (_watch is not null)
        {
            await _watch.ConfigureAwait(false);
        }
        NodeHandle[] nodes;
        lock (_gate)
        {
            nodes = [.. _nodes.Values.Where(n => !n.Lost)];
        }
        try
        {
            await Task.WhenAll(nodes.Select(n => n.Grain.ReleaseClientAsync(_id))).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // A node that cannot be told finds out when this client stops polling it.
        }
        try
        {
            await _host.StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        finally
        {
            _host.Dispose();
            _lifetime.Dispose();
        }
    }
}
