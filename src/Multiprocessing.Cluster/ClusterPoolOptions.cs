using System.Text.Json.Serialization.Metadata;
using Multiprocessing.Serialization;

namespace Multiprocessing.Cluster;

/// <summary>How a <see cref="ClusterPool"/> finds its cluster and what it does when nodes fail.</summary>
public sealed class ClusterPoolOptions
{
    internal const string DefaultClusterId = "multiprocessing";
    internal const string DefaultServiceId = "multiprocessing";

    /// <summary>The Redis server that holds the cluster's membership (a StackExchange.Redis connection string such as <c>127.0.0.1:6379</c>).</summary>
    /// <value>The default is null: localhost clustering, through <see cref="GatewayPorts"/> on 127.0.0.1.</value>
    public string? RedisConnectionString { get; set; }

    /// <summary>With localhost clustering, the gateway ports of the nodes to connect through (any one that is up will do).</summary>
    /// <value>The default is 30000.</value>
    public IReadOnlyList<int> GatewayPorts { get; set; } = [30000];

    /// <summary>The cluster's id; it must match the nodes'.</summary>
    /// <value>The default is <c>multiprocessing</c>.</value>
    public string ClusterId { get; set; } = DefaultClusterId;

    /// <summary>The service's id; it must match the nodes'.</summary>
    /// <value>The default is <c>multiprocessing</c>.</value>
    public string ServiceId { get; set; } = DefaultServiceId;

    /// <summary>
    /// How many times a chunk that was running on a node that left or died is run again elsewhere.
    /// Tasks are expected to be pure, as with Ray and Dask. A task that kills its own worker on a
    /// live node is not retried: it fails with <see cref="WorkerCrashedException"/>.
    /// </summary>
    /// <value>The default is 3.</value>
    public int MaxRetries { get; set; } = 3;

    /// <summary>How long work waits for a node when none is left (or none has joined yet) before it fails.</summary>
    /// <value>The default is 30 seconds.</value>
    public TimeSpan NodeWaitTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long connecting may take before <see cref="ClusterPool.ConnectAsync"/> gives up.</summary>
    /// <value>The default is 30 seconds.</value>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Chunks a node may hold per worker: enough to hide the round trip, few enough that a slow node does not hoard the tail of a map.</summary>
    /// <value>The default is 2.</value>
    public int ChunksPerWorker { get; set; } = 2;

    /// <summary>
    /// TLS to the nodes, which must run with TLS as well (<see cref="ProcessPoolNodeOptions.Tls"/>,
    /// <c>mp node --tls-certificate</c>). A client and nodes that disagree fail to connect with
    /// <see cref="System.Security.Authentication.AuthenticationException"/>.
    /// </summary>
    /// <value>The default is null: plain TCP.</value>
    public ClusterTlsOptions? Tls { get; set; }

    /// <summary>
    /// Serializer for argument and result types it accepts, as <see cref="ProcessPoolOptions.Serializer"/>:
    /// this client encodes the arguments and reads the results with it, and the nodes' workers create
    /// their own instance from its type's public parameterless constructor (the type must be in the
    /// application the nodes run, <c>mp node --app</c>). The nodes themselves never create it.
    /// </summary>
    /// <value>The default is null: the built-in binary path and System.Text.Json, whatever the nodes' own pools use.</value>
    /// <remarks>
    /// A type without a public parameterless constructor is refused by <see cref="ClusterPool.ConnectAsync"/>
    /// (<see cref="ArgumentException"/>). One the nodes' workers cannot load or whose constructor throws there
    /// fails each call that uses it with <see cref="WorkerStartException"/>, as a <see cref="ProcessPool"/> whose
    /// workers cannot create it does.
    /// </remarks>
    public IWorkerSerializer? Serializer { get; set; }

    /// <summary>
    /// JSON metadata for argument and result types that travel as JSON, as <see cref="ProcessPoolOptions.JsonContext"/>:
    /// typically a source-generated <c>JsonSerializerContext</c>, which the nodes' workers create from its
    /// static <c>Default</c> property or its public parameterless constructor.
    /// </summary>
    /// <value>The default is null: metadata by reflection.</value>
    public IJsonTypeInfoResolver? JsonContext { get; set; }

    /// <summary>
    /// For tests: runs last on the Orleans client's builder (to put a gateway list the test controls
    /// in place of the configured one, say).
    /// </summary>
    internal Action<Orleans.Hosting.IClientBuilder>? ConfigureClient { get; set; }

    /// <summary>This client's codecs, after refusing a serializer or JSON context a worker could not create.</summary>
    /// <exception cref="ArgumentException">The serializer or the JSON context has no way to be created in another process.</exception>
    internal CodecProvider Codecs()
    {
        if (Serializer is not null)
        {
            SerializerTypes.RequireCreatable(Serializer, nameof(Serializer));
        }
        if (JsonContext is not null)
        {
            SerializerTypes.RequireCreatable(JsonContext, nameof(JsonContext));
        }
        return CodecProvider.For(Serializer, JsonContext);
    }

    internal void Validate()
    {
        if (Tls is not null)
        {
            ClusterTls.Validate(Tls, nameof(ClusterPoolOptions));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(MaxRetries, nameof(MaxRetries));
        ArgumentOutOfRangeException.ThrowIfLessThan(ChunksPerWorker, 1, nameof(ChunksPerWorker));
        if (RedisConnectionString is null && GatewayPorts.Count == 0)
        {
            throw new ArgumentException("Localhost clustering needs at least one gateway port (GatewayPorts), or set RedisConnectionString.", nameof(GatewayPorts));
        }
    }
}
