using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Multiprocessing.Cluster.Client;
using Multiprocessing.Cluster.Node;
using Multiprocessing.Pool;
using Multiprocessing.Scheduling;
using Multiprocessing.Serialization;
using Orleans.Configuration;

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
    private readonly ClusterPoolOptions _options;
    private readonly IHost _host;
    private readonly IClusterClient _client;
    private readonly Guid _id = Guid.NewGuid();
    private readonly Scheduler _scheduler;
    private readonly TaskFrontEnd _front;
    private readonly NodeWatch _watch;
    private readonly Dictionary<int, byte[]> _descriptions = [];
    private readonly CancellationTokenSource _lifetime = new();
    private readonly ClientSharedData _shared = new();
    private readonly CodecProvider _codecs;
    private long _callNumber;
    private int _disposed;

    private ClusterPool(ClusterPoolOptions options, CodecProvider codecs, IHost host)
    {
        _options = options;
        _codecs = codecs;
        _host = host;
        _client = host.Services.GetRequiredService<IClusterClient>();
        TimeSpan responseTimeout = host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ClientMessagingOptions>>().Value.ResponseTimeout;
        _scheduler = new Scheduler(new PoolMeter(null), nameof(ClusterPool));
        _watch = new NodeWatch(this, _client, _scheduler, options, _shared, responseTimeout);
        _front = new TaskFrontEnd(this, _scheduler, codecs, null, new ProcessPoolOptions().MaxMessageSize, null, () => TotalWorkers);
    }

    /// <summary>This client's identity on the nodes.</summary>
    internal Guid ClientId => _id;

    /// <summary>The read-only shared arrays passed to this pool's tasks.</summary>
    internal ClientSharedData SharedData => _shared;

    /// <summary>A number for a new grain call that runs a chunk, unique in this client.</summary>
    internal long NextCallNumber() => Interlocked.Increment(ref _callNumber);

    /// <summary>Calls sent again after they were stranded on their way (see <see cref="NodeExecutor.Reconcile"/>); for tests.</summary>
    internal long CallsSentAgain => _watch.CallsSentAgain;

    /// <summary>The nodes as the client holds them now (tests look at what went where).</summary>
    internal NodeExecutor[] Executors => _watch.Snapshot();

    /// <summary>A node is gone: the chunks it held run elsewhere (see <see cref="NodeWatch.Lose"/>).</summary>
    internal void Lose(NodeExecutor node, string why) => _watch.Lose(node, why);

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
                        created?._watch.RouteLost();
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
                options.ConfigureClient?.Invoke(client);
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
        await _watch.StartAsync(_lifetime.Token, cancellationToken).ConfigureAwait(false);
    }

    internal static string Describe(ClusterPoolOptions options) =>
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
        var infos = new List<ClusterNodeInfo>();
        foreach (NodeExecutor node in _watch.Snapshot())
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
        await _watch.StoppedAsync().ConfigureAwait(false);
        NodeExecutor[] nodes = _watch.Snapshot();
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
