using Multiprocessing.Cluster;
using Xunit.Abstractions;

namespace Multiprocessing.Tests.Cluster;

/// <summary>A cluster of two real nodes (mp node processes on loopback), shared by the tests that leave it whole.</summary>
public sealed class TwoNodeCluster : IAsyncLifetime
{
    internal ClusterNodes Nodes { get; private set; } = null!;

    internal ClusterPool Pool { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Nodes = await ClusterNodes.StartAsync(2);
        Pool = await ClusterPool.ConnectAsync(Nodes.ClientOptions());
        await Wait.UntilAsync(() => Pool.Nodes.Count == 2, "the client sees both nodes");
    }

    public async Task DisposeAsync()
    {
        await Pool.DisposeAsync();
        await Nodes.DisposeAsync();
    }
}

[Collection("cluster")]
public sealed class ClusterPoolTests(TwoNodeCluster cluster) : IClassFixture<TwoNodeCluster>
{
    [Fact]
    public async Task SubmitAsync_OverTwoNodes_RunsInWorkersOfBoth()
    {
        Assert.Equal(49, await cluster.Pool.SubmitAsync(Tasks.Square, 7));
        int[] squares = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => cluster.Pool.SubmitAsync(Tasks.Square, i)));
        Assert.Equal(Enumerable.Range(0, 40).Select(i => i * i), squares);
        // Slow tasks, more than one node's worker can hold: both nodes' workers take some.
        int[] pids = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => cluster.Pool.SubmitAsync(ClusterTasks.WorkerPid, i)));
        int[] workers = [.. cluster.Nodes.Nodes.SelectMany(n => n.WorkerPids())];
        Assert.All(pids, pid => Assert.Contains(pid, workers));
    }

    [Fact]
    public async Task MapAsync_TenThousandItems_AllResultsInOrder()
    {
        long[] squares = await cluster.Pool.MapAsync(Square, Enumerable.Range(0, 10_000).Select(i => (long)i));
        Assert.Equal(Enumerable.Range(0, 10_000).Select(i => (long)i * i), squares);
        Assert.Equal([1, 4, 9], cluster.Pool.Map(Tasks.Square, [1, 2, 3]));
    }

    [Fact]
    public async Task MapStreamAsync_Unordered_EveryResultOnce()
    {
        var seen = new List<int>();
        await foreach (int r in cluster.Pool.MapStreamAsync(Tasks.Square, Enumerable.Range(0, 500), new MapOptions { Ordered = false, ChunkSize = 7 }))
        {
            seen.Add(r);
        }
        Assert.Equal(Enumerable.Range(0, 500).Select(i => i * i), seen.Order());
    }

    [Fact]
    public async Task MapAsync_ItemThrows_WorkerExceptionNamesTheCallersItem()
    {
        WorkerException error = await Assert.ThrowsAsync<WorkerException>(() => cluster.Pool.MapAsync(Tasks.Throw, Enumerable.Range(0, 100), new MapOptions { ChunkSize = 10 }));
        Assert.Equal(13, error.ItemIndex);
    }

    private static long Square(long x) => x * x;

    [Fact]
    public async Task SubmitAsync_TaskThrows_WorkerExceptionWithTheRemoteTypeAndNode()
    {
        WorkerException error = await Assert.ThrowsAsync<WorkerException>(() => cluster.Pool.SubmitAsync(Tasks.Throw, 13));
        Assert.Equal(typeof(InvalidOperationException).FullName, error.RemoteTypeName);
        Assert.Contains("thirteen is unlucky", error.Message, StringComparison.Ordinal);
        Assert.Contains("on node node", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SubmitAsync_CapturingLambda_RefusedAtTheCall()
    {
        int k = 3;
        Assert.Throws<ArgumentException>(() => { _ = cluster.Pool.SubmitAsync((int x) => x * k, 1); });
    }

    [Fact]
    public void SubmitAsync_SharedObject_RefusedAtTheCallWithWhy()
    {
        using SharedArray<int> array = SharedArray<int>.Create(4);
        ArgumentException error = Assert.Throws<ArgumentException>(() => { _ = cluster.Pool.SubmitAsync(Length, array); });
        Assert.Contains("cannot cross to another machine", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => { _ = cluster.Pool.MapAsync(Holder, [new Holding(array)]); });
    }

    private static long Length(SharedArray<int> array) => array.Length;

    private static long Holder(Holding h) => h.Array.Length;

    public sealed record Holding(SharedArray<int> Array);

    [Fact]
    public async Task SubmitAsync_TaskKillsItsWorker_WorkerCrashedExceptionWithoutRetry()
    {
        WorkerCrashedException error = await Assert.ThrowsAsync<WorkerCrashedException>(() => cluster.Pool.SubmitAsync(Tasks.KillSelfAt, (5, 5)));
        Assert.Equal(9, error.Signal);
        // The node replaced its worker and goes on.
        Assert.Equal(64, await cluster.Pool.SubmitAsync(Tasks.Square, 8));
    }

    [Fact]
    public async Task Nodes_ListsBothWithTheirWorkers()
    {
        IReadOnlyList<ClusterNodeInfo> nodes = await cluster.Pool.GetNodesAsync();
        Assert.Equal(["node1", "node2"], nodes.Select(n => n.Name).Order());
        Assert.All(nodes, n => Assert.Equal(1, n.Workers));
        Assert.All(nodes, n => Assert.True(n.MemoryBytes > 0, $"{n.Name} reported memory {n.MemoryBytes}"));
        Assert.Equal(cluster.Nodes.Nodes.Select(n => n.Process.Id).Order(), nodes.Select(n => n.ProcessId).Order());
    }

    [Fact]
    public void Nodes_WatchNoDirectory()
    {
        // A node reads no file from where it was started; watching that directory tree costs an
        // inotify watch per directory (in /, tens of thousands) and the memory and CPU to walk it.
        foreach (ClusterNodes.Node node in cluster.Nodes.Nodes)
        {
            int watches = Directory.EnumerateFiles($"/proc/{node.Process.Id}/fdinfo")
                .Sum(fd => { try { return File.ReadLines(fd).Count(line => line.StartsWith("inotify wd:", StringComparison.Ordinal)); } catch (IOException) { return 0; } });
            Assert.True(watches == 0, $"node {node.Process.Id} (started in {Environment.CurrentDirectory}) holds {watches} inotify watches");
        }
    }
}

[Collection("cluster")]
public sealed class NodeFailureTests(ITestOutputHelper output)
{
    [Fact]
    public async Task NodeKilledMidRun_ItsTasksRunElsewhere_AllResultsCorrect()
    {
        await using ClusterNodes nodes = await ClusterNodes.StartAsync(2);
        await using ClusterPool pool = await ClusterPool.ConnectAsync(nodes.ClientOptions());
        await Wait.UntilAsync(() => pool.Nodes.Count == 2, "the client sees both nodes");
        Task<int>[] tasks = [.. Enumerable.Range(0, 12).Select(i => pool.SubmitAsync(ClusterTasks.SlowSquare, i))];
        ClusterNodes.Node victim = nodes.Nodes[1];
        await Wait.UntilAsync(() => pool.Nodes.Any(n => n.ProcessId == victim.Process.Id && n.BusyWorkers > 0), "the second node runs a task");
        victim.Kill();
        int[] results = await Task.WhenAll(tasks).WaitAsync(Bounds.Unexpected);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => i * i), results);
        await Wait.UntilAsync(() => pool.Nodes.Count == 1, "the client stops counting on the killed node");
    }

    [Fact]
    public async Task NodeKilledMidMap_MapCompletesWithEveryResultCorrect()
    {
        await using ClusterNodes nodes = await ClusterNodes.StartAsync(2);
        await using ClusterPool pool = await ClusterPool.ConnectAsync(nodes.ClientOptions());
        await Wait.UntilAsync(() => pool.Nodes.Count == 2, "the client sees both nodes");
        Task<int[]> map = pool.MapAsync(ClusterTasks.SlowSquare, Enumerable.Range(0, 16), new MapOptions { ChunkSize = 1 });
        ClusterNodes.Node victim = nodes.Nodes[1];
        await Wait.UntilAsync(() => pool.Nodes.Any(n => n.ProcessId == victim.Process.Id && n.BusyWorkers > 0), "the second node runs a chunk");
        var sinceKill = System.Diagnostics.Stopwatch.StartNew();
        victim.Kill();
        int[] results = await map.WaitAsync(Bounds.Unexpected);
        // Reported, not asserted: chunks stranded with the dead node (or behind its gateway) come back within a
        // second or two, where they used to wait out Orleans' 30 s response timeout.
        output.WriteLine($"map finished {sinceKill.Elapsed.TotalSeconds:0.00} s after the kill");
        Assert.Equal(Enumerable.Range(0, 16).Select(i => i * i), results);
    }

    [Fact]
    public async Task NoNodeLeft_SubmitFailsAfterTheBoundedWait()
    {
        await using ClusterNodes nodes = await ClusterNodes.StartAsync(1);
        ClusterPoolOptions options = nodes.ClientOptions();
        options.NodeWaitTimeout = TimeSpan.FromSeconds(2);
        await using ClusterPool pool = await ClusterPool.ConnectAsync(options);
        nodes.Nodes[0].Kill();
        await Wait.UntilAsync(() => pool.Nodes.Count == 0, "the client stops counting on the killed node");
        NodeUnavailableException error = await Assert.ThrowsAsync<NodeUnavailableException>(() => pool.SubmitAsync(Tasks.Square, 3).WaitAsync(Bounds.Unexpected));
        Assert.Contains("No node", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NodeJoinsMidMap_TakesWork()
    {
        await using ClusterNodes nodes = await ClusterNodes.StartAsync(1);
        await using ClusterPool pool = await ClusterPool.ConnectAsync(nodes.ClientOptions());
        using var stop = new CancellationTokenSource(Bounds.Unexpected);
        Task<ClusterNodes.Node> joining = nodes.AddAsync(1);
        bool secondTookWork = false;
        // An endless input: the map runs until a result comes from the node that joined after it began.
        await foreach (int pid in pool.MapStreamAsync(ClusterTasks.SlowPid, Endless(), new MapOptions { Ordered = false, ChunkSize = 1 }, stop.Token))
        {
            if (joining.IsCompletedSuccessfully && (await joining).WorkerPids().Contains(pid))
            {
                secondTookWork = true;
                break;
            }
        }
        Assert.True(secondTookWork);
    }

    private static IEnumerable<int> Endless()
    {
        for (int i = 0; ; i++)
        {
            yield return i;
        }
    }

    [Fact]
    public async Task ClientKilled_NodeCancelsItsRunningTask()
    {
        await using ClusterNodes nodes = await ClusterNodes.StartAsync(1);
        string marker = Path.Combine(Path.GetTempPath(), $"mp-cluster-{Guid.NewGuid():N}");
        try
        {
            using var client = WorkerProcess.Start(ClusterTasks.ClientWithEndlessTask, (nodes.ClientOptions().GatewayPorts.ToArray(), nodes.ClusterId, marker));
            await Wait.UntilAsync(() => File.Exists(marker), "the client's task runs on the node");
            client.Kill();
            // The node stops hearing the client's polls; after its client time-out it cancels the client's work.
            await Wait.UntilAsync(() => File.Exists(marker + ".cancelled"), "the node cancels the dead client's task");
        }
        finally
        {
            File.Delete(marker);
            File.Delete(marker + ".cancelled");
        }
    }
}
