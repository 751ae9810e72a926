using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Multiprocessing.Pool;

namespace Multiprocessing.Cluster.Node;

/// <summary>
/// What a node is besides its silo: the local <see cref="ProcessPool"/> that runs clients' chunks,
/// and the clients it is working for. Started before the silo takes calls, stopped after it.
/// </summary>
internal sealed class LocalNode(ProcessPoolNodeOptions options, ILoggerFactory? loggerFactory = null, X509Certificate2? certificate = null) : IHostedService, IAsyncDisposable
{
    /// <summary>A client not heard from for this long is taken for dead, and its running work here is cancelled.</summary>
    internal static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(10);

    private readonly ILogger _logger = loggerFactory?.CreateLogger("Multiprocessing.Cluster.Node") ?? NullLogger.Instance;
    private readonly ConcurrentDictionary<Guid, ClientState> _clients = new();
    private ProcessPool? _pool;
    private Timer? _sweep;

    public string Name => options.Name ?? $"{Environment.MachineName}:{options.SiloPort}";

    /// <summary>The node's copies of its clients' read-only shared arrays.</summary>
    public NodeSharedData SharedData { get; } = new();

    /// <summary>Gives back the heap a burst of traffic left, once the node is quiet again.</summary>
    internal NodeMemory Memory { get; } = new();

    public ProcessPool Pool => _pool ?? throw new InvalidOperationException("The node has not started.");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await CheckPrimaryTlsAsync(cancellationToken).ConfigureAwait(false);
        if (options.ApplicationPath is { } app)
        {
            Multiprocessing.Worker.WorkerLauncher.UseApplication(app);
        }
        ProcessPoolOptions poolOptions = NodeRuntime.ForWorkers(options.PoolOptions with { Name = options.PoolOptions.Name ?? Name, LoggerFactory = options.PoolOptions.LoggerFactory ?? loggerFactory });
        _pool = new ProcessPool(poolOptions);
        _sweep = new Timer(_ => Sweep(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        _logger.LogInformation("Node {Name} started a pool of {Workers} workers{App}", Name, poolOptions.Workers, options.ApplicationPath is null ? "" : $" for {options.ApplicationPath}");
    }

    /// <summary>
    /// With localhost clustering, refuses to start when the primary node's TLS disagrees with this
    /// node's: Orleans would retry joining for minutes and log only "connection terminated". A TLS
    /// handshake to a node without TLS is silent on that node (it sends its preamble and drops us).
    /// </summary>
    private async Task CheckPrimaryTlsAsync(CancellationToken cancellationToken)
    {
        if (options.RedisConnectionString is not null || options.PrimarySiloPort is not { } primary || primary == options.SiloPort)
        {
            return;
        }
        string? mismatch;
        try
        {
            mismatch = await TlsProbe.ProbeAsync(new IPEndPoint(options.BindAddress, primary), options.Tls, certificate, TlsProbe.Node, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            return; // The primary is not up: Orleans' own join reports that.
        }
        if (mismatch is not null)
        {
            throw new AuthenticationException(mismatch);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_sweep is not null)
        {
            await _sweep.DisposeAsync().ConfigureAwait(false);
        }
        if (_pool is not null)
        {
            await _pool.DisposeAsync().ConfigureAwait(false);
        }
        SharedData.Dispose();
    }

    public ValueTask DisposeAsync() => new(StopAsync(CancellationToken.None));

    public async Task<ChunkOutcome> RunAsync(ChunkRequest request, CancellationToken cancellationToken)
    {
        ClientState client = Touch(request.Client);
        client.Running[request.Call] = 0;
        try
        {
            return await RunForAsync(client, request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            client.Running.TryRemove(request.Call, out _);
        }
    }

    private async Task<ChunkOutcome> RunForAsync(ClientState client, ChunkRequest request, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, client.Cancellation.Token);
        if (request.SharedData is { Length: > 0 } shared && !SharedData.Rewrite(request.Client, shared, request.Frame, out string? missing))
        {
            // The client sends an array before the first chunk that names it; only a release racing the chunk gets here.
            return new ChunkOutcome { Fault = new NodeFault { Kind = NodeFaultKind.SharedDataMissing, Message = $"Node {Name} cannot run the chunk: {missing}." } };
        }
        EncodedOutcome outcome;
        try
        {
            outcome = await Pool.RunEncodedAsync(new EncodedChunk(request.Method, request.MethodName, request.Frame, request.Frame.Length, request.Count, request.FirstItem), linked.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
        {
            return new ChunkOutcome { Fault = new NodeFault { Kind = NodeFaultKind.NodeStopping, Message = $"Node {Name} is stopping: {e.Message}" } };
        }
        if (outcome.Error is { } error)
        {
            return new ChunkOutcome { Fault = NodeFault.From(error) };
        }
        byte[] results = outcome.Results!.Length == outcome.ResultLength ? outcome.Results : outcome.Results.AsSpan(0, outcome.ResultLength).ToArray();
        return new ChunkOutcome { Results = results, ElapsedTicks = outcome.ElapsedTicks };
    }

    public NodeStatus Status(Guid client, bool includeMemory)
    {
        long[] running = [];
        if (client != Guid.Empty)
        {
            running = [.. Touch(client).Running.Keys];
        }
        ProcessPool pool = Pool;
        long memory = -1;
        if (includeMemory)
        {
            try
            {
                memory = pool.GetMemoryUsage().TotalPss;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                // A worker that exits while its /proc files are read: the figure is left out.
            }
        }
        return new NodeStatus
        {
            Name = Name,
            Workers = pool.WorkerCount,
            BusyWorkers = (int)pool.BusyWorkers,
            QueuedItems = pool.QueuedItems,
            MemoryBytes = memory,
            ProcessId = Environment.ProcessId,
            SharedDataTransfers = SharedData.Transfers,
            SharedDataBytes = SharedData.Bytes,
            RunningCalls = running,
        };
    }

    public void Release(Guid client)
    {
        if (_clients.TryRemove(client, out ClientState? state))
        {
            state.Cancellation.Cancel();
        }
        SharedData.ReleaseClient(client);
    }

    private ClientState Touch(Guid client)
    {
        ClientState state = _clients.GetOrAdd(client, static _ => new ClientState());
        Volatile.Write(ref state.LastSeen, Stopwatch.GetTimestamp());
        return state;
    }

    /// <summary>Cancels the work of clients that stopped calling (killed, or cut off): nobody waits for its results.</summary>
    private void Sweep()
    {
        foreach ((Guid id, ClientState state) in _clients)
        {
            if (Stopwatch.GetElapsedTime(Volatile.Read(ref state.LastSeen)) > ClientTimeout)
            {
                _logger.LogWarning("Node {Name}: client {Client} was not heard from for {Seconds} s; its running work here is cancelled", Name, id, ClientTimeout.TotalSeconds);
                Release(id);
            }
        }
        Memory.Check();
    }

    private sealed class ClientState
    {
        public readonly CancellationTokenSource Cancellation = new();

        /// <summary>The client's calls running here, by its number for them.</summary>
        public readonly ConcurrentDictionary<long, byte> Running = new();
        public long LastSeen = Stopwatch.GetTimestamp();
    }
}
