using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Multiprocessing.Cluster;
using Multiprocessing.Cluster.Node;

namespace Multiprocessing.Cli.Commands;

/// <summary>
/// <c>mp node</c>: runs this machine's node of a cluster: an Orleans silo with a local process pool
/// whose workers run an application's tasks, until Ctrl+C or SIGTERM.
/// </summary>
public sealed class NodeCommand : CliCommand
{
    private readonly Option<FileInfo?> _app = new("--app")
    {
        Description = "The application whose tasks the workers run (App.dll, with App.deps.json and App.runtimeconfig.json beside it).",
        HelpName = "PATH",
    };

    private readonly Option<int> _workers = new("--workers", "-w")
    {
        Description = "Worker processes of this node's pool.",
        DefaultValueFactory = _ => Environment.ProcessorCount,
    };

    private readonly Option<string> _cluster = new("--cluster")
    {
        Description = "Membership: 'localhost' (nodes of one machine) or redis://HOST:PORT.",
        DefaultValueFactory = _ => "localhost",
    };

    private readonly Option<int> _port = new("--port")
    {
        Description = "The port nodes talk to each other on.",
        DefaultValueFactory = _ => 11111,
    };

    private readonly Option<int> _gatewayPort = new("--gateway-port")
    {
        Description = "The port clients connect to.",
        DefaultValueFactory = _ => 30000,
    };

    private readonly Option<int?> _primaryPort = new("--primary-port")
    {
        Description = "With --cluster localhost: the --port of the first node, which keeps the membership (leave out on the first node).",
    };

    private readonly Option<string> _bind = new("--bind")
    {
        Description = "The address to listen on and advertise. Loopback unless you say otherwise.",
        DefaultValueFactory = _ => "127.0.0.1",
    };

    private readonly Option<string?> _name = new("--name")
    {
        Description = "The node's name in listings (default: machine name and port).",
    };

    private readonly Option<string> _clusterId = new("--cluster-id")
    {
        Description = "The cluster's id; clients must use the same.",
        DefaultValueFactory = _ => ClusterArguments.DefaultId,
    };

    private readonly TlsArguments _tls = new(node: true);

    /// <summary>Creates the command.</summary>
    public NodeCommand() : base("node", "Run a node of a cluster: a silo whose local process pool runs the tasks of ClusterPool clients.")
    {
        Options.Add(_app);
        Options.Add(_workers);
        Options.Add(_cluster);
        Options.Add(_port);
        Options.Add(_gatewayPort);
        Options.Add(_primaryPort);
        Options.Add(_bind);
        Options.Add(_name);
        Options.Add(_clusterId);
        _tls.AddTo(this);
    }

    /// <inheritdoc/>
    protected override async Task<int> ExecuteAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        TextWriter error = parseResult.InvocationConfiguration.Error;
        string? redis = ClusterArguments.Redis(parseResult.GetValue(_cluster)!);
        if (!IPAddress.TryParse(parseResult.GetValue(_bind), out IPAddress? bind))
        {
            await error.WriteLineAsync($"mp node: --bind '{parseResult.GetValue(_bind)}' is not an IP address.").ConfigureAwait(false);
            return MpCommandLine.UsageError;
        }
        int workers = parseResult.GetValue(_workers);
        if (workers < 1)
        {
            await error.WriteLineAsync("mp node: --workers must be at least 1.").ConfigureAwait(false);
            return MpCommandLine.UsageError;
        }
        if (NodeRuntime.ShouldRestart())
        {
            // Returns only when the restart failed; the node then runs with the runtime's defaults.
            Exception failed = NodeRuntime.Restart();
            await error.WriteLineAsync($"mp node: could not start over with the node's runtime settings ({failed.Message}); running with the runtime's defaults.").ConfigureAwait(false);
        }
        // Nothing from the working directory: the default builder reads appsettings.json there and, to
        // reload it, watches every directory below it (started in /, 50,911 inotify watches, 9 MiB and a
        // fifth of a core while it walked the tree).
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        // Orleans reports every connection and membership step at Information; a node's own events are what an operator reads.
        builder.Logging.AddFilter("Orleans", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Polly", LogLevel.Warning);
        // Levels from the environment as in any host (Logging__LogLevel__Orleans=Information); added last, so they win.
        builder.Configuration.AddEnvironmentVariables();
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        string clusterId = parseResult.GetValue(_clusterId)!;
        ClusterTlsOptions? tls = _tls.Read(parseResult);
        builder.Services.AddProcessPoolNode(o =>
        {
            o.Name = parseResult.GetValue(_name);
            o.ApplicationPath = parseResult.GetValue(_app)?.FullName;
            o.PoolOptions = new ProcessPoolOptions { Workers = workers };
            o.RedisConnectionString = redis;
            o.SiloPort = parseResult.GetValue(_port);
            o.GatewayPort = parseResult.GetValue(_gatewayPort);
            o.PrimarySiloPort = parseResult.GetValue(_primaryPort);
            o.BindAddress = bind;
            o.ClusterId = clusterId;
            o.ServiceId = clusterId;
            o.Tls = tls;
        });
        using IHost host = builder.Build();
        await host.StartAsync(cancellationToken).ConfigureAwait(false);
        // A line a script (or a test) can wait for: the node takes work from here on.
        await parseResult.InvocationConfiguration.Output.WriteLineAsync($"mp node: ready, silo {bind}:{parseResult.GetValue(_port)}, gateway {bind}:{parseResult.GetValue(_gatewayPort)}, {workers} workers{(tls is null ? "" : ", TLS")}").ConfigureAwait(false);
        await parseResult.InvocationConfiguration.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        return MpCommandLine.Success;
    }
}

/// <summary>Parsing shared by <c>mp node</c> and <c>mp cluster</c>.</summary>
internal static class ClusterArguments
{
    public const string DefaultId = "multiprocessing";

    /// <summary>The Redis connection string of <c>redis://HOST:PORT</c>, or null for <c>localhost</c>.</summary>
    /// <exception cref="InvalidOperationException">Neither.</exception>
    public static string? Redis(string cluster) =>
        cluster == "localhost" ? null
        : cluster.StartsWith("redis://", StringComparison.Ordinal) ? cluster["redis://".Length..].TrimEnd('/')
        : throw new InvalidOperationException($"--cluster '{cluster}' is neither 'localhost' nor redis://HOST:PORT.");
}
