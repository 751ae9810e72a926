using Microsoft.Extensions.DependencyInjection;
using Multiprocessing.Cluster;
using Orleans.Messaging;
using Xunit.Abstractions;

namespace Multiprocessing.Tests.Cluster;

/// <summary>
/// Calls stranded behind a dead gateway: a call to a live node that went through another node's
/// gateway, which died before the answer came back. Orleans fails such a call only at its response
/// timeout; the client finds it missing from the node's list of running calls and sends it again.
/// </summary>
[Collection("cluster")]
public sealed class StrandedCallTests(ITestOutputHelper output)
{
    [Fact]
    public async Task GatewayNodeKilled_CallsToTheOtherNodeStrandedBehindIt_SentAgain_AllResultsCorrect()
    {
        await using ClusterNodes nodes = await ClusterNodes.StartAsync(2);
        ClusterNodes.Node gateway = nodes.Nodes[0];
        ClusterNodes.Node other = nodes.Nodes[1];
        // The client is told of the first node's gateway only, so every call, to either node, goes
        // through it; the second node's gateway is made known once the first is dead and the
        // second's answers have left for it.
        var gateways = new TestGateways(gateway.GatewayPort);
        ClusterPoolOptions options = nodes.ClientOptions();
        options.ConfigureClient = client => client.Services.AddSingleton<IGatewayListProvider>(gateways);
        await using ClusterPool pool = await ClusterPool.ConnectAsync(options);
        await Wait.UntilAsync(() => pool.Nodes.Count == 2, "the client sees both nodes");
        string marker = Path.Combine(Path.GetTempPath(), $"mp-stranded-{Guid.NewGuid():N}");
        try
        {
            // Each task returns once the first node is gone; two run on each node (1 worker, 2 chunks each).
            Task<int[]> map = pool.MapAsync(ClusterTasks.SquareOnceGone, Enumerable.Range(0, 4).Select(i => (gateway.Process.Id, marker, i)), new MapOptions { ChunkSize = 1 });
            await Wait.UntilAsync(() => pool.Nodes.Any(n => n.ProcessId == other.Process.Id && n.BusyWorkers > 0), "the second node runs a task");
            gateway.Kill();
            await Wait.UntilAsync(() => other.WorkerPids().Any(pid => File.Exists($"{marker}.{pid}")), "the second node's task returns after the kill");
            gateways.Add(other.GatewayPort);

            int[] results = await map.WaitAsync(Bounds.Unexpected);
            Assert.Equal([0, 1, 4, 9], results);
            output.WriteLine($"calls sent again: {pool.CallsSentAgain}");
            Assert.True(pool.CallsSentAgain > 0, "no call was sent again: the stranded-call path did not run");
        }
        finally
        {
            foreach (string file in Directory.GetFiles(Path.GetDirectoryName(marker)!, Path.GetFileName(marker) + ".*"))
            {
                File.Delete(file);
            }
        }
    }

    /// <summary>The client's gateway list, which the test extends (Orleans reads it again when every gateway it knows is dead).</summary>
    private sealed class TestGateways(int port) : IGatewayListProvider
    {
        private readonly List<Uri> _gateways = [Gateway(port)];

        public TimeSpan MaxStaleness => TimeSpan.FromMinutes(1);

        public bool IsUpdatable => true;

        public void Add(int gatewayPort)
        {
            lock (_gateways)
            {
                _gateways.Add(Gateway(gatewayPort));
            }
        }

        public Task InitializeGatewayListProvider() => Task.CompletedTask;

        public Task<IList<Uri>> GetGateways()
        {
            lock (_gateways)
            {
                return Task.FromResult<IList<Uri>>([.. _gateways]);
            }
        }

        private static Uri Gateway(int port) => new($"gwy.tcp://127.0.0.1:{port}/0");
    }
}
