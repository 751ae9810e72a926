using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Multiprocessing.Cluster;
using Multiprocessing.Cluster.Node;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Runs a cluster node in a generic host.</summary>
public static class ProcessPoolNodeServiceCollectionExtensions
{
    /// <summary>
    /// Makes this host a node of a cluster: an Orleans silo with a local <see cref="Multiprocessing.ProcessPool"/>
    /// that runs the chunks <see cref="ClusterPool"/> clients send it. The pool starts before the silo
    /// takes calls and stops after it.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="configure">Sets the node's options.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is null.</exception>
    public static IServiceCollection AddProcessPoolNode(this IServiceCollection services, Action<ProcessPoolNodeOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = new ProcessPoolNodeOptions();
        configure?.Invoke(options);
        services.AddSingleton(options);
        services.AddSingleton(sp => new LocalNode(options, sp.GetService<ILoggerFactory>()));
        // Registered before the silo: hosted services start in order and stop in reverse.
        services.AddHostedService(sp => sp.GetRequiredService<LocalNode>());
        services.AddOrleans(silo => ConfigureSilo(silo, options));
        return services;
    }

    internal static void ConfigureSilo(ISiloBuilder silo, ProcessPoolNodeOptions options)
    {
        if (options.RedisConnectionString is { } redis)
        {
            silo.UseRedisClustering(redis);
        }
        else
        {
            IPEndPoint primary = new(options.BindAddress, options.PrimarySiloPort ?? options.SiloPort);
            silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, primary, options.ServiceId, options.ClusterId);
        }
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = options.ClusterId;
            o.ServiceId = options.ServiceId;
        });
        silo.Configure<SiloOptions>(o => o.SiloName = options.Name ?? $"{Environment.MachineName}:{options.SiloPort}");
        silo.Configure<EndpointOptions>(o =>
        {
            o.AdvertisedIPAddress = options.BindAddress;
            o.SiloPort = options.SiloPort;
            o.GatewayPort = options.GatewayPort;
            o.SiloListeningEndpoint = new IPEndPoint(options.BindAddress, options.SiloPort);
            o.GatewayListeningEndpoint = new IPEndPoint(options.BindAddress, options.GatewayPort);
        });
        silo.Services.AddPlacementDirector<NodePlacement, NodePlacementDirector>();
    }
}
