using System.Net;

namespace Multiprocessing.Cluster;

/// <summary>How a node of a cluster runs: its pool, its cluster, and where it listens.</summary>
/// <remarks>
/// A node is an Orleans silo that owns a local <see cref="ProcessPool"/>. Start one per machine with
/// <c>mp node</c> or <see cref="Microsoft.Extensions.DependencyInjection.ProcessPoolNodeServiceCollectionExtensions.AddProcessPoolNode"/>.
/// </remarks>
public sealed class ProcessPoolNodeOptions
{
    /// <summary>The node's name in listings and messages.</summary>
    /// <value>The default is the machine name and the silo port.</value>
    public string? Name { get; set; }

    /// <summary>The local pool's options (worker count, limits, time-outs).</summary>
    /// <value>The default is one worker per processor.</value>
    public ProcessPoolOptions PoolOptions { get; set; } = new();

    /// <summary>
    /// The application whose tasks the workers run (its .dll; its .deps.json and .runtimeconfig.json
    /// beside it), for a node that is not that application itself (<c>mp node --app</c>).
    /// </summary>
    /// <value>The default is null: workers run this process's own application.</value>
    public string? ApplicationPath { get; set; }

    /// <summary>The Redis server that holds the cluster's membership (a StackExchange.Redis connection string such as <c>127.0.0.1:6379</c>).</summary>
    /// <value>The default is null: localhost clustering, for nodes on one machine (development and tests).</value>
    public string? RedisConnectionString { get; set; }

    /// <summary>The cluster's id: nodes and clients with the same id form one cluster.</summary>
    /// <value>The default is <c>multiprocessing</c>.</value>
    public string ClusterId { get; set; } = ClusterPoolOptions.DefaultClusterId;

    /// <summary>The service's id, which stays the same across deployments of the cluster.</summary>
    /// <value>The default is <c>multiprocessing</c>.</value>
    public string ServiceId { get; set; } = ClusterPoolOptions.DefaultServiceId;

    /// <summary>The port nodes talk to each other on.</summary>
    /// <value>The default is 11111.</value>
    public int SiloPort { get; set; } = 11111;

    /// <summary>The port clients connect to.</summary>
    /// <value>The default is 30000.</value>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>
    /// With localhost clustering, the silo port of the node that keeps the membership (the first one
    /// started); null when this node is that one. Ignored with Redis clustering.
    /// </summary>
    /// <value>The default is null.</value>
    public int? PrimarySiloPort { get; set; }

    /// <summary>The address the node listens on and advertises to the others.</summary>
    /// <value>The default is 127.0.0.1: nothing listens beyond this machine unless you say so.</value>
    public IPAddress BindAddress { get; set; } = IPAddress.Loopback;

    /// <summary>
    /// TLS on every connection of this node: from clients, and to and from the other nodes. Every node
    /// and client of the cluster must then use TLS too. <see cref="ClusterTlsOptions.CertificatePath"/> is required.
    /// </summary>
    /// <value>The default is null: plain TCP, for a trusted network or loopback.</value>
    public ClusterTlsOptions? Tls { get; set; }
}
