using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Multiprocessing.Cluster.Client;
using Multiprocessing.Cluster.Node;
using Multiprocessing.Pool;
using Multiprocessing.Scheduling;
using Multiprocessing.Serialization;
using Orleans.Configuration;
using Orleans.Runtime;

namespace Multiprocessing.Cluster;

/// <summary>
/// A process pool whose workers are on many machines: each node (an Orleans silo started with
/// <c>mp node</c> or <c>AddProcessPoolNode</c>) runs the chunks it is sent on its own local
/// <see cref="ProcessPool"/>. The same static methods run unchanged on one machine and on many, with
/// the same calls, options and exceptions as <see cref="ProcessPool"/>.
/// </summary>
/// <remarks>
/// <para>
/// Membership, failure detection and transport are Orleans'. Nodes are discovered through the
/// cluster's membership and polled by this client; each node holds at most its worker count times
/// <see cref="ClusterPoolOptions.ChunksPerWorker"/> chunks, and a node that joins takes work at once.
/// </para>
/// <para>
/// A node that leaves or dies has the chunks it held run elsewhere, each at most
/// <see cref="ClusterPoolOptions.MaxRetries"/> more times; results already back are kept. A task that
/// kills its worker on a live node fails with <see cref="WorkerCrashedException"/>, as on one machine.
/// With no node left for <see cref="ClusterPoolOptions.NodeWaitTimeout"/>, waiting work fails with
/// <see cref="NodeUnavailableException"/>.
/// </para>
/// </remarks>
public sealed partial class ClusterPool : IProcessPool
{
    /// <summary>How often nodes are polled for their state (and told this client is alive).</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    private readonly ClusterPoolOptions _options;
    private readonly IHost _host;
    private readonly IClusterClient _client;
    private readonly Guid _id = Guid.NewGuid();
    private readonly Scheduler _scheduler;
    private readonly TaskFrontEnd _front;
    private readonly Dictionary<string, NodeExecutor> _nodes = [];
    private readonly Dictionary<int, byte[]> _descriptions = [];
    private readonly CancellationTokenSource _lifetime = new();
    private readonly ClientSharedData _shared = new();
    private readonly CodecProvider _codecs;

    /// <summary>Orleans' response timeout (<c>ClientMessagingOptions.ResponseTimeout</c>) in Stopwatch ticks.</summary>
    private readonly long _responseTimeoutTicks;
    private long _noNodeSince = Stopwatch.GetTimestamp();
    private long _routeLostAt = long.MinValue;
    private long _callNumber;
    private Task? _watch;
    private Task _refresh = Task.CompletedTask;
    private int _disposed;

    private ClusterPool(ClusterPoolOptions options, CodecProvider codecs, IHost host)
    {
        _options = options;
        _codecs = codecs;
        _host = host;
        _client = host.Services.GetRequiredService<IClusterClient>();
        TimeSpan responseTimeout = host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ClientMessagingOptions>>().Value.ResponseTimeout;
        _responseTimeoutTicks = (long)(responseTimeout.TotalSeconds * Stopwatch.Frequency);
        _scheduler = new Scheduler(new PoolMeter(null), nameof(ClusterPool));
        _front = new TaskFrontEnd(this, _scheduler, codecs, null, new ProcessPoolOptions().MaxMessageSize, null, () => TotalWorkers);
    }

    /// <summary>This client's identity on the nodes.</summary>
    internal Guid ClientId => _id;

    /// <summary>The read-only shared arrays passed to this pool's tasks.</summary>
    internal ClientSharedData SharedData => _shared;

    /// <summary>A number for a new grain call that runs a chunk, unique in this client.</summary>
    internal long NextCallNumber() => Interlocked.Increment(ref _callNumber);

    /// <summary>
    /// A route into the cluster was lost: a gateway connection closed (Orleans' gateway count went
    /// down) or a node was lost. Calls made before it may have gone through that gateway and be
    /// stranded there; the polls that follow find them (<see cref="NodeExecutor.Reconcile"/>).
    /// </summary>
    private void RouteLost() => Interlocked.Exchange(ref _routeLostAt, Stopwatch.GetTimestamp());

    /// <summary>Workers of the nodes counted on now, which sizes a map's chunks.</summary>
    private int TotalWorkers
    {
        get
        {
            lock (_scheduler.Gate)
            {
                return _scheduler.Executors.OfType<NodeExecutor>().Sum(n => n.Status?.Workers ?? 0);
            }
        }
    }

    /// <summary>Connects to a cluster and waits for its first node.</summary>
    /// <param name="options">How to find the cluster.</param>
    /// <param name="cancellationToken">Stops connecting.</param>
    /// <returns>The connected pool.</returns>
    /// <exception cref="ArgumentException">The options are inconsistent.</exception>
    /// <exception cref="TimeoutException">No gateway answered, or no node joined, within <see cref="ClusterPoolOptions.ConnectTimeout"/>.</exception>
    /// <exception cref="System.Security.Authentication.AuthenticationException">
    /// A gateway's TLS disagrees with <see cref="ClusterPoolOptions.Tls"/>: it speaks TLS and this client does not, or the other
    /// way round, or one side does not accept the other's certificate. With localhost clustering this is found within seconds;
    /// with Redis clustering it ends in the <see cref="TimeoutException"/>.
    /// </exception>
    /// <exception cref="FileNotFoundException">The TLS certificate file does not exist.</exception>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The TLS certificate file is not a PKCS#12 file with a private key, or its password is wrong.</exception>
    public static async Task<ClusterPool> ConnectAsync(ClusterPoolOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        CodecProvider codecs = options.Codecs();
        X509Certificate2? certificate = options.Tls is { CertificatePath: not null } tls ? ClusterTls.LoadCertificate(tls, "ClusterPoolOptions.Tls.CertificatePath") : null;
        ClusterPool? created = null;
        IHost host = new HostBuilder()
            .UseOrleansClient(client =>
            {
                if (options.Tls is { } tls)
                {
                    ClusterTls.Configure(client, tls, certificate);
                }
                // Orleans does not fail a call already sent through a gateway whose connection then
                // closes (the silo behind it may have forwarded it, or may be dead): it waits for the
                // response timeout. The closed connection is the signal to look for such calls.
                client.AddGatewayCountChangedHandler((_, e) =>
                {
                    if (e.NumberOfConnectedGateways < e.PreviousNumberOfConnectedGateways)
                    {
                        created?.RouteLost();
                    }
                });
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
        var pool = new ClusterPool(options, codecs, host);
        created = pool;
        try
        {
            Task connect = pool.StartAsync(timeout.Token);
            if (options.RedisConnectionString is null && await TlsProbe.WhileConnectingAsync(connect, options, certificate, timeout.Token).ConfigureAwait(false) is { } mismatch)
            {
                await timeout.CancelAsync().ConfigureAwait(false);
                await connect.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
                throw mismatch;
            }
            await connect.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            await pool.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException($"No node of cluster '{options.ClusterId}' could be reached within {options.ConnectTimeout.TotalSeconds:0.#} s ({Describe(options)}, {(options.Tls is null ? "without" : "with")} TLS). Start one with 'mp node'.");
        }
        catch
        {
            await pool.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return pool;
    }

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        await _host.StartAsync(cancellationToken).ConfigureAwait(false);
        await RefreshAsync().ConfigureAwait(false);
        await PollAllAsync().ConfigureAwait(false);
        _watch = WatchAsync();
        await WaitForNodeAsync(cancellationToken).ConfigureAwait(false);
    }

    private static string Describe(ClusterPoolOptions options) =>
        options.RedisConnectionString is { } redis ? $"Redis membership at {redis}" : $"gateways 127.0.0.1:{string.Join(",", options.GatewayPorts)}";

    /// <summary>The nodes this client counts on, as they last reported (polled every half second).</summary>
    public IReadOnlyList<ClusterNodeInfo> Nodes
    {
        get
        {
            lock (_scheduler.Gate)
            {
                return [.. _scheduler.Executors.OfType<NodeExecutor>().Select(n => n.ToInfo())];
            }
        }
    }

    /// <summary>Asks every node for its state now, memory included.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>One entry per node that answered.</returns>
    public async Task<IReadOnlyList<ClusterNodeInfo>> GetNodesAsync(CancellationToken cancellationToken = default)
    {
        NodeExecutor[] nodes;
        lock (_scheduler.Gate)
        {
            nodes = [.. _nodes.Values];
        }
        var infos = new List<ClusterNodeInfo>();
        foreach (NodeExecutor node in nodes)
        {
            try
            {
                NodeStatus status = await node.Grain.GetStatusAsync(_id, includeMemory: true).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                lock (_scheduler.Gate)
                {
                    node.Update(status);
                }
                infos.Add(node.ToInfo());
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // A node that does not answer is left out; the watcher decides whether it is lost.
            }
        }
        return infos;
    }

    /// <summary>Reads the cluster's membership: nodes that joined are polled from now on; nodes the cluster declared dead are lost.</summary>
    private async Task RefreshAsync()
    {
        MembershipEntry[] hosts = await _client.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true).ConfigureAwait(false);
        var lost = new List<NodeExecutor>();
        lock (_scheduler.Gate)
        {
            var active = new HashSet<string>();
            foreach (MembershipEntry host in hosts)
            {
                string address = host.SiloAddress.ToParsableString();
                active.Add(address);
                if (!_nodes.ContainsKey(address))
                {
                    _nodes[address] = new NodeExecutor(this, _scheduler, address, host.SiloName, _client.GetGrain<INodeGrain>(address), _options.ChunksPerWorker);
                }
            }
            lost.AddRange(_nodes.Values.Where(n => !active.Contains(n.Address)));
        }
        foreach (NodeExecutor node in lost)
        {
            Lose(node, "the cluster declared it dead");
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
                // The membership read is awaited for 2 s at most: sent through a gateway that just died,
                // it waits out Orleans' response timeout, and the polls must go on meanwhile (it is not
                // sent again until it ends). Awaited otherwise, it paces the polls as before, which a
                // node busy receiving a shared array's pieces needs to answer them in time.
                if (_refresh.IsCompleted)
                {
                    _refresh = RefreshQuietlyAsync();
                }
                try
                {
                    await _refresh.WaitAsync(TimeSpan.FromSeconds(2), _lifetime.Token).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                }
                await PollAllAsync().ConfigureAwait(false);
                CheckNoNode();
                await ReleaseDisposedSharedAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
        }
    }

    private async Task RefreshQuietlyAsync()
    {
        try
        {
            await RefreshAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // No gateway answered this time (or the client stopped); the node polls still tell who is alive.
        }
    }

    /// <summary>Arrays the caller disposed since the last poll: the nodes drop their copies.</summary>
    private async Task ReleaseDisposedSharedAsync()
    {
        Guid[] gone = _shared.TakeDisposed();
        if (gone.Length == 0)
        {
            return;
        }
        NodeExecutor[] nodes;
        lock (_scheduler.Gate)
        {
            nodes = [.. _nodes.Values];
        }
        try
        {
            await Task.WhenAll(nodes.SelectMany(n => gone.Select(n.ForgetSharedAsync))).WaitAsync(TimeSpan.FromSeconds(5), _lifetime.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !_lifetime.IsCancellationRequested)
        {
            // A node that cannot be told drops the copies when this client disconnects or stops polling it.
        }
    }

    private Task PollAllAsync()
    {
        NodeExecutor[] nodes;
        lock (_scheduler.Gate)
        {
            nodes = [.. _nodes.Values];
        }
        return Task.WhenAll(nodes.Select(PollAsync));
    }

    private async Task PollAsync(NodeExecutor node)
    {
        NodeStatus status;
        long askedAt = Stopwatch.GetTimestamp();
        try
        {
            status = await node.Grain.GetStatusAsync(_id, includeMemory: false).WaitAsync(TimeSpan.FromSeconds(2), _lifetime.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !_lifetime.IsCancellationRequested)
        {
            bool lose;
            lock (_scheduler.Gate)
            {
                // A silo that never answered may be no node (or still starting): it was never counted on.
                lose = ++node.FailedPolls >= 2 && node.State != ExecutorState.Starting;
            }
            if (lose)
            {
                Lose(node, $"it did not answer two polls: {e.Message}");
            }
            return;
        }
        List<Executor>? touched = null;
        lock (_scheduler.Gate)
        {
            if (!_nodes.TryGetValue(node.Address, out NodeExecutor? current) || current != node)
            {
                return;
            }
            node.Update(status);
            if (node.Reconcile(status, askedAt, Interlocked.Read(ref _routeLostAt), askedAt - _responseTimeoutTicks) > 0)
            {
                (touched ??= []).Add(node);
            }
            if (node.State == ExecutorState.Starting && status.Workers > 0)
            {
                _scheduler.Add(node);
                _scheduler.MarkReady(node);
                touched = _scheduler.AssignAll();
                (touched ??= []).Add(node);
            }
            else if (node.State == ExecutorState.Ready)
            {
                // Its capacity follows its worker count.
                _scheduler.Assign(node);
                (touched ??= []).Add(node);
            }
        }
        Scheduler.Flush(touched);
    }

    /// <summary>A node is gone: the chunks it held run elsewhere, each up to MaxRetries more times.</summary>
    internal void Lose(NodeExecutor node, string why)
    {
        var failed = new List<(WorkItem Item, Exception Error)>();
        List<Executor>? touched;
        lock (_scheduler.Gate)
        {
            if (!_nodes.TryGetValue(node.Address, out NodeExecutor? current) || current != node)
            {
                return;
            }
            _nodes.Remove(node.Address);
            RouteLost();
            node.AbandonCalls();
            if (node.State == ExecutorState.Starting)
            {
                return;
            }
            _scheduler.Lost(node, item =>
                ++item.Attempts > _options.MaxRetries
                    ? new NodeUnavailableException($"{item.Method.Method.DisplayName} was running on {item.Attempts} nodes that were all lost before it finished (MaxRetries is {_options.MaxRetries}); the last, {node.Name}, was lost because {why}.")
                    : null,
                failed);
            touched = _scheduler.AssignAll();
        }
        node.Flush();
        _scheduler.ReportFailed(failed);
        Scheduler.Flush(touched);
    }

    /// <summary>With no node for NodeWaitTimeout, what waits for one fails; later work waits again.</summary>
    private void CheckNoNode()
    {
        bool fail;
        lock (_scheduler.Gate)
        {
            if (_scheduler.Executors.Count > 0)
            {
                _noNodeSince = Stopwatch.GetTimestamp();
                return;
            }
            fail = Stopwatch.GetElapsedTime(_noNodeSince) > _options.NodeWaitTimeout && _scheduler.HasQueuedWork;
        }
        if (fail)
        {
            _scheduler.FailWaiting(new NodeUnavailableException(
                $"No node of cluster '{_options.ClusterId}' was available for {_options.NodeWaitTimeout.TotalSeconds:0.#} s ({Describe(_options)}): every node has left or died, or none has joined. Start nodes with 'mp node', or raise ClusterPoolOptions.NodeWaitTimeout."));
        }
    }

    /// <summary>Waits until at least one node takes work.</summary>
    private async Task WaitForNodeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_scheduler.Gate)
            {
                if (_scheduler.Executors.Count > 0)
                {
                    return;
                }
                changed = _scheduler.ExecutorsChanged;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The request that runs <paramref name="item"/> on a node: its method's description and its Run frame, as encoded here.</summary>
    internal ChunkRequest Request(WorkItem item, long call)
    {
        byte[]? description;
        lock (_descriptions)
        {
            if (!_descriptions.TryGetValue(item.Method.Id, out description))
            {
                // What follows the id in its Register frame, and the names of this client's codecs:
                // the node's workers decode the chunk with those (see ProcessPool.DescribeEncoded).
                description = ProcessPool.DescribeEncoded(item.Method, _codecs);
                _descriptions[item.Method.Id] = description;
            }
        }
        return new ChunkRequest
        {
            Method = description,
            MethodName = item.Method.Method.DisplayName,
            Frame = item.Frame.AsSpan(0, item.FrameLength).ToArray(),
            Count = item.Count,
            FirstItem = item.FirstItem,
            Client = _id,
            SharedData = _shared.Find(item.Frame.AsSpan(0, item.FrameLength)),
            Call = call,
        };
    }

    /// <summary>
    /// Closes the pool gracefully: it takes no new work, lets every call already made finish, then
    /// disconnects (see <see cref="ProcessPool.CloseAsync"/>).
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for the work and disposes the pool instead.</param>
    /// <returns>A task that completes when every call has finished and the client has disconnected.</returns>
    public async Task CloseAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        try
        {
            await _front.StopTakingCallsAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The blocking twin of <see cref="CloseAsync"/>.</summary>
    /// <param name="cancellationToken">Stops waiting for the work and disposes the pool instead.</param>
    public void Close(CancellationToken cancellationToken = default) => CloseAsync(cancellationToken).GetAwaiter().GetResult();

    /// <summary>The blocking twin of <see cref="DisposeAsync"/>.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>
    /// Fails the calls still waiting, tells the nodes this client is leaving (they cancel its running
    /// work) and disconnects.
    /// </summary>
    /// <returns>A task that completes when the client has disconnected.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _scheduler.Close();
        _lifetime.Cancel();
        if (_watch is not null)
        {
            await _watch.ConfigureAwait(false);
        }
        NodeExecutor[] nodes;
        lock (_scheduler.Gate)
        {
            nodes = [.. _nodes.Values];
        }
        try
        {
            await Task.WhenAll(nodes.Select(n => n.Grain.ReleaseClientAsync(_id))).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // A node that cannot be told finds out when this client stops polling it.
        }
        // Calls still out end now, as cancelled, so nobody waits on a node that was told to stop.
        foreach (NodeExecutor node in nodes)
        {
            Lose(node, "the client was disposed");
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
