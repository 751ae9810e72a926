using Multiprocessing;
using Multiprocessing.Cluster.Node;

namespace Multiprocessing.Tests.Cluster;

/// <summary>mp node starts itself over with tiered compilation off and a small gen0 budget; its workers, which run user code, keep the runtime's default tiering.</summary>
public sealed class NodeRuntimeTests
{
    [Fact]
    public async Task MpNode_ByDefault_RunsWithTieredCompilationOff_ItsWorkersWithout()
    {
        await using ClusterNodes nodes = await ClusterNodes.StartAsync(0);
        // Whatever this test process was given: mp node decides only when nobody chose.
        ClusterNodes.Node node = await nodes.AddAsync(1, tls: null, new Dictionary<string, string?> { [NodeRuntime.Variable] = null, ["COMPlus_TieredCompilation"] = null, [NodeRuntime.Marker] = null, [NodeRuntime.Gen0Variable] = null });

        Dictionary<string, string> environment = EnvironmentOf(node.Process.Id);
        Assert.Equal("0", environment.GetValueOrDefault(NodeRuntime.Variable));
        Assert.Equal("1", environment.GetValueOrDefault(NodeRuntime.Marker));
        Assert.Equal(NodeRuntime.Gen0Budget, environment.GetValueOrDefault(NodeRuntime.Gen0Variable));
        Dictionary<string, string> workerEnvironment = EnvironmentOf(await OnlyWorkerAsync(node));
        Assert.False(workerEnvironment.ContainsKey(NodeRuntime.Variable), $"the worker has {NodeRuntime.Variable}={workerEnvironment.GetValueOrDefault(NodeRuntime.Variable)}");
        Assert.False(workerEnvironment.ContainsKey(NodeRuntime.Marker));
        // The pool gives its workers a gen0 budget of its own, whatever the node runs with.
        Assert.NotEqual(NodeRuntime.Gen0Budget, workerEnvironment.GetValueOrDefault(NodeRuntime.Gen0Variable));
    }

    [Fact]
    public async Task MpNode_AfterStartingOver_StillListensForDiagnosticTools()
    {
        await using ClusterNodes nodes = await ClusterNodes.StartAsync(0);
        ClusterNodes.Node node = await nodes.AddAsync(1, tls: null, new Dictionary<string, string?> { [NodeRuntime.Variable] = null, ["COMPlus_TieredCompilation"] = null, [NodeRuntime.Marker] = null, ["DOTNET_EnableDiagnostics"] = null });
        Assert.Equal("1", EnvironmentOf(node.Process.Id).GetValueOrDefault(NodeRuntime.Marker));

        // dotnet-counters, dotnet-trace and dotnet-dump find a process by this socket; the runtime
        // after the exec must have bound it again, under the same name.
        string name = $"/dotnet-diagnostic-{node.Process.Id}-";
        Assert.Contains(File.ReadLines("/proc/net/unix").Skip(1), line => IsListening(line) && line.Contains(name, StringComparison.Ordinal) && line.EndsWith("-socket", StringComparison.Ordinal));
    }

    [Fact]
    public async Task MpNode_TieringChosenByTheUser_KeepsItAndDoesNotStartOver()
    {
        await using ClusterNodes nodes = await ClusterNodes.StartAsync(0);
        ClusterNodes.Node node = await nodes.AddAsync(1, tls: null, new Dictionary<string, string?> { [NodeRuntime.Variable] = "1", [NodeRuntime.Marker] = null, [NodeRuntime.Gen0Variable] = null });

        Dictionary<string, string> environment = EnvironmentOf(node.Process.Id);
        Assert.Equal("1", environment.GetValueOrDefault(NodeRuntime.Variable));
        Assert.False(environment.ContainsKey(NodeRuntime.Marker));
        Assert.NotEqual(NodeRuntime.Gen0Budget, environment.GetValueOrDefault(NodeRuntime.Gen0Variable));
        // The user's choice is the environment's, so the workers inherit it as any other variable.
        Assert.Equal("1", EnvironmentOf(await OnlyWorkerAsync(node)).GetValueOrDefault(NodeRuntime.Variable));
    }

    [Fact]
    public void ForWorkers_AfterTheStartOver_TakesItsTieringOut_ButKeepsTheUsersOwn()
    {
        var plain = new ProcessPoolOptions { WorkerEnvironment = new Dictionary<string, string?> { ["MY_SETTING"] = "x" } };
        IReadOnlyDictionary<string, string?> workers = NodeRuntime.ForWorkers(plain, startedOver: true).WorkerEnvironment;
        Assert.True(workers.TryGetValue(NodeRuntime.Variable, out string? tiering) && tiering is null, "the restart's tiering is removed from the workers' environment");
        Assert.True(workers.TryGetValue(NodeRuntime.Marker, out string? marker) && marker is null);
        Assert.Equal("x", workers["MY_SETTING"]);

        var chosen = new ProcessPoolOptions { WorkerEnvironment = new Dictionary<string, string?> { [NodeRuntime.Variable] = "0" } };
        Assert.Equal("0", NodeRuntime.ForWorkers(chosen, startedOver: true).WorkerEnvironment[NodeRuntime.Variable]);
        // Not started over: the tiering in the node's environment is the user's, and the workers inherit it.
        Assert.Same(plain, NodeRuntime.ForWorkers(plain, startedOver: false));
    }

    /// <summary>A line of /proc/net/unix for a socket that accepts connections (flag __SO_ACCEPTCON, state unconnected).</summary>
    private static bool IsListening(string line) =>
        line.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [_, _, _, "00010000", _, "01", _, _];

    /// <summary>The node's one worker, once its log has named it.</summary>
    private static async Task<int> OnlyWorkerAsync(ClusterNodes.Node node)
    {
        await Wait.UntilAsync(() => node.WorkerPids().Length > 0, "the node's worker is started");
        return Assert.Single(node.WorkerPids());
    }

    /// <summary>The environment the process was started (or last started over) with: /proc/PID/environ.</summary>
    private static Dictionary<string, string> EnvironmentOf(int pid) =>
        File.ReadAllText($"/proc/{pid}/environ")
            .Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(entry => entry.Split('=', 2))
            .Where(pair => pair.Length == 2)
            .GroupBy(pair => pair[0])
            .ToDictionary(g => g.Key, g => g.Last()[1]);
}
