using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Multiprocessing.Cluster;

namespace Multiprocessing.Cli.Commands;

/// <summary><c>mp cluster</c>: lists the nodes of a cluster with their workers, busy workers and memory.</summary>
public sealed class ClusterCommand : CliCommand
{
    private readonly Option<string> _cluster = new("--cluster")
    {
        Description = "Membership: 'localhost' or redis://HOST:PORT.",
        DefaultValueFactory = _ => "localhost",
    };

    private readonly Option<int[]> _gatewayPorts = new("--gateway-port")
    {
        Description = "With --cluster localhost: gateway ports of nodes to connect through (repeat for several).",
        DefaultValueFactory = _ => [30000],
        AllowMultipleArgumentsPerToken = true,
    };

    private readonly Option<string> _clusterId = new("--cluster-id")
    {
        Description = "The cluster's id.",
        DefaultValueFactory = _ => ClusterArguments.DefaultId,
    };

    private readonly Option<bool> _json = new("--json")
    {
        Description = "Write the nodes as JSON instead of a table.",
    };

    private readonly TlsArguments _tls = new(node: false);

    /// <summary>Creates the command.</summary>
    public ClusterCommand() : base("cluster", "List the nodes of a cluster: workers, busy workers and memory of each.")
    {
        Options.Add(_cluster);
        Options.Add(_gatewayPorts);
        Options.Add(_clusterId);
        Options.Add(_json);
        _tls.AddTo(this);
    }

    /// <inheritdoc/>
    protected override async Task<int> ExecuteAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        TextWriter output = parseResult.InvocationConfiguration.Output;
        string clusterId = parseResult.GetValue(_clusterId)!;
        var options = new ClusterPoolOptions
        {
            RedisConnectionString = ClusterArguments.Redis(parseResult.GetValue(_cluster)!),
            GatewayPorts = parseResult.GetValue(_gatewayPorts) ?? [30000],
            ClusterId = clusterId,
            ServiceId = clusterId,
            ConnectTimeout = TimeSpan.FromSeconds(15),
            Tls = _tls.Read(parseResult),
        };
        await using ClusterPool pool = await ClusterPool.ConnectAsync(options, cancellationToken).ConfigureAwait(false);
        IReadOnlyList<ClusterNodeInfo> nodes = await pool.GetNodesAsync(cancellationToken).ConfigureAwait(false);
        if (parseResult.GetValue(_json))
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(nodes)).ConfigureAwait(false);
            return MpCommandLine.Success;
        }
        await output.WriteLineAsync($"{"NODE",-24} {"PID",8} {"WORKERS",8} {"BUSY",6} {"MEMORY",12}  ADDRESS").ConfigureAwait(false);
        foreach (ClusterNodeInfo node in nodes.OrderBy(n => n.Name, StringComparer.Ordinal))
        {
            string memory = node.MemoryBytes < 0 ? "?" : (node.MemoryBytes / (1024.0 * 1024)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";
            await output.WriteLineAsync($"{node.Name,-24} {node.ProcessId,8} {node.Workers,8} {node.BusyWorkers,6} {memory,12}  {node.Address}").ConfigureAwait(false);
        }
        await output.WriteLineAsync($"{nodes.Count} node(s), {nodes.Sum(n => n.Workers)} workers, {nodes.Sum(n => n.BusyWorkers)} busy").ConfigureAwait(false);
        return MpCommandLine.Success;
    }
}
