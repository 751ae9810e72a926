using System.Net;
using System.Security.Cryptography.X509Certificates;
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
    /// <exception cref="ArgumentException"><see cref="ProcessPoolNodeOptions.Tls"/> is set without a certificate, or with a malformed thumbprint.</exception>
    /// <exception cref="FileNotFoundException">The TLS certificate file does not exist.</exception>
    /// <exception cref="UnauthorizedAccessException">The TLS certificate file may not be read.</exception>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The TLS certificate file is not a PKCS#12 file with a private key, or its password is wrong.</exception>
    public static IServiceCollection AddProcessPoolNode(this IServiceCollection services, Action<ProcessPoolNodeOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = new ProcessPoolNodeOptions();
        configure?.Invoke(options);
        // Loaded here, not when the silo starts, so a bad certificate fails the registration with its reason instead of a listener error later.
        X509Certificate2? certificate = null;
        if (options.Tls is { } tls)
        {
            ClusterTls.Validate(tls, nameof(ProcessPoolNodeOptions));
            if (tls.CertificatePath is null)
            {
                throw new ArgumentException("A node with TLS needs its certificate: set ProcessPoolNodeOptions.Tls.CertificatePath (mp node --tls-certificate) to a .pfx file.", nameof(configure));
            }
            certificate = ClusterTls.LoadCertificate(tls, "ProcessPoolNodeOptions.Tls.CertificatePath");
        }
        services.AddSingleton(options);
        services.AddSingleton(sp => new LocalNode(options, sp.GetService<ILoggerFactory>(), certificate));
        // Registered before the silo: hosted services start in order and stop in reverse.
        services.AddHostedService(sp => sp.GetRequiredService<LocalNode>());
        services.AddOrleans(silo => ConfigureSilo(silo, options, certificate));
        return services;
    }

    /// <summary>Grain locations a node's silo caches (Orleans' default is 1,000,000).</summary>
    internal const int DirectoryCacheSize = 1024;

    internal static void ConfigureSilo(ISiloBuilder silo, ProcessPoolNodeOptions options, X509Certificate2? certificate)
    {
        if (options.Tls is { } tls && certificate is not null)
        {
            ClusterTls.Configure(silo, tls, certificate);
        }
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
        // Orleans' default directory cache (1,000,000 grain locations) allocates its table up front,
        // about 10 MB per silo; a node's silo hosts one grain per node and looks up a handful.
        silo.Configure<GrainDirectoryOptions>(o => o.CacheSize = DirectoryCacheSize);
        silo.Services.AddPlacementDirector<NodePlacement, NodePlacementDirector>();
    }
}
