using Multiprocessing;
using Multiprocessing.Cluster.Node;
using Multiprocessing.Worker;

namespace Multiprocessing.Tests.Cluster;

/// <summary>mp node starts itself over with tiered compilation off, a small gen0 budget, a small JIT cache and a 64 KiB mapping threshold; its workers, which run user code, keep the runtime's default tiering and the C library's default threshold.</summary>
public sealed class NodeRuntimeTests
{
    [Fact]
    public async Task MpNode_ByDefault_RunsWithTieredCompilationOff_ItsWorkersWithout()
    {
        await using ClusterNodes nodes = await ClusterNodes.StartAsync(0);
        // Whatever this test process was given: mp node decides only when nobody chose.
        ClusterNodes.Node node = await nodes.AddAsync(1, tls: null, new Dictionary<string, string?>
        {
            [NodeRuntime.Variable] = null, ["COMPlus_TieredCompilation"] = null, [NodeRuntime.Marker] = null, [NodeRuntime.Gen0Variable] = null,
            [WorkerLauncher.JitScratchVariable] = null, [NodeRuntime.MallocVariable] = null, ["GLIBC_TUNABLES"] = null,
        });

        Dictionary<string, string> environment = EnvironmentOf(node.Process.Id);
        Assert.Equal("0", environment.GetValueOrDefault(NodeRuntime.Variable));
        Assert.Equal(NodeRuntime.Gen0Budget, environment.GetValueOrDefault(NodeRuntime.Gen0Variable));
        Assert.Equal(NodeRuntime.JitScratchLimit, environment.GetValueOrDefault(WorkerLauncher.JitScratchVariable));
        Assert.Equal(NodeRuntime.MallocThreshold, environment.GetValueOrDefault(NodeRuntime.MallocVariable));
        // The marker names what the restart set, so the node can tell its own settings from the user's.
        Assert.Equal(
            new[] { NodeRuntime.Variable, NodeRuntime.Gen0Variable, WorkerLauncher.JitScratchVariable, NodeRuntime.MallocVariable }.Order(StringComparer.Ordinal),
            (environment.GetValueOrDefault(NodeRuntime.Marker) ?? "").Split(',').Order(StringComparer.Ordinal));
        Dictionary<string, string> workerEnvironment = EnvironmentOf(await OnlyWorkerAsync(node));
        Assert.False(workerEnvironment.ContainsKey(NodeRuntime.Variable), $"the worker has {NodeRuntime.Variable}={workerEnvironment.GetValueOrDefault(NodeRuntime.Variable)}");
        Assert.False(workerEnvironment.ContainsKey(NodeRuntime.MallocVariable), $"the worker has {NodeRuntime.MallocVariable}={workerEnvironment.GetValueOrDefault(NodeRuntime.MallocVariable)}");
        Assert.False(workerEnvironment.ContainsKey(NodeRuntime.Marker));
        // The pool gives its workers a gen0 budget and a JIT cache of its own, whatever the node runs with.
        Assert.NotEqual(NodeRuntime.Gen0Budget, workerEnvironment.GetValueOrDefault(NodeRuntime.Gen0Variable));
        Assert.Equal("0", workerEnvironment.GetValueOrDefault(WorkerLauncher.JitScratchVariable));
    }

    [Fact]
    public async Task MpNode_AfterStartingOver_StillListensForDiagnosticTools()
    {
        await using ClusterNodes nodes = await ClusterNodes.StartAsync(0);
        ClusterNodes.Node node = await nodes.AddAsync(1, tls: null, new Dictionary<string, string?> { [NodeRuntime.Variable] = null, ["COMPlus_TieredCompilation"] = null, [NodeRuntime.Marker] = null, ["DOTNET_EnableDiagnostics"] = null });
        Assert.True(EnvironmentOf(node.Process.Id).ContainsKey(NodeRuntime.Marker), "the node started over");

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
    public void ForWorkers_AfterTheStartOver_TakesItsTieringAndThresholdOut_ButKeepsTheUsersOwn()
    {
        string everything = NodeRuntime.Settings(_ => null)[NodeRuntime.Marker]!;
        var plain = new ProcessPoolOptions { WorkerEnvironment = new Dictionary<string, string?> { ["MY_SETTING"] = "x" } };
        IReadOnlyDictionary<string, string?> workers = NodeRuntime.ForWorkers(plain, everything).WorkerEnvironment;
        Assert.True(workers.TryGetValue(NodeRuntime.Variable, out string? tiering) && tiering is null, "the restart's tiering is removed from the workers' environment");
        Assert.True(workers.TryGetValue(NodeRuntime.MallocVariable, out string? threshold) && threshold is null, "the restart's threshold is removed from the workers' environment");
        Assert.True(workers.TryGetValue(NodeRuntime.Marker, out string? marker) && marker is null);
        // The launcher sets its own gen0 budget and JIT cache for every worker: nothing to take out.
        Assert.False(workers.ContainsKey(NodeRuntime.Gen0Variable));
        Assert.False(workers.ContainsKey(WorkerLauncher.JitScratchVariable));
        Assert.Equal("x", workers["MY_SETTING"]);

        var chosen = new ProcessPoolOptions { WorkerEnvironment = new Dictionary<string, string?> { [NodeRuntime.Variable] = "0", [NodeRuntime.MallocVariable] = "131072" } };
        IReadOnlyDictionary<string, string?> chosenForWorkers = NodeRuntime.ForWorkers(chosen, everything).WorkerEnvironment;
        Assert.Equal("0", chosenForWorkers[NodeRuntime.Variable]);
        Assert.Equal("131072", chosenForWorkers[NodeRuntime.MallocVariable]);
        // A threshold the user set before the restart is not in the marker: the workers inherit it.
        string withoutThreshold = NodeRuntime.Settings(name => name == NodeRuntime.MallocVariable ? "131072" : null)[NodeRuntime.Marker]!;
        Assert.False(NodeRuntime.ForWorkers(plain, withoutThreshold).WorkerEnvironment.ContainsKey(NodeRuntime.MallocVariable));
        // Not started over: the settings in the node's environment are the user's, and the workers inherit them.
        Assert.Same(plain, NodeRuntime.ForWorkers(plain, marker: null));
    }

    [Fact]
    public void Settings_LeaveWhatTheUserChose()
    {
        Dictionary<string, string?> all = NodeRuntime.Settings(_ => null);
        Assert.Equal("0", all[NodeRuntime.Variable]);
        Assert.Equal(NodeRuntime.Gen0Budget, all[NodeRuntime.Gen0Variable]);
        Assert.Equal(NodeRuntime.JitScratchLimit, all[WorkerLauncher.JitScratchVariable]);
        Assert.Equal(NodeRuntime.MallocThreshold, all[NodeRuntime.MallocVariable]);

        var chosen = new Dictionary<string, string>
        {
            [NodeRuntime.Gen0Variable] = "0x200000",
            [WorkerLauncher.JitScratchVariable] = "0x1000000",
            ["GLIBC_TUNABLES"] = "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=262144",
        };
        Dictionary<string, string?> some = NodeRuntime.Settings(chosen.GetValueOrDefault);
        Assert.False(some.ContainsKey(NodeRuntime.Gen0Variable));
        Assert.False(some.ContainsKey(WorkerLauncher.JitScratchVariable));
        Assert.False(some.ContainsKey(NodeRuntime.MallocVariable), "a threshold among the C library's tunables is the user's");
        Assert.Equal(NodeRuntime.Variable, some[NodeRuntime.Marker]);
        // Other tunables leave the threshold to the node.
        Assert.Equal(NodeRuntime.MallocThreshold, NodeRuntime.Settings(name => name == "GLIBC_TUNABLES" ? "glibc.malloc.arena_max=2" : null)[NodeRuntime.MallocVariable]);
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
