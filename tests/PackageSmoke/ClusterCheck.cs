using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Multiprocessing;
using Multiprocessing.Cluster;

/// <summary>
/// The cluster package as a user meets it first: one node in this process (a generic host with
/// AddProcessPoolNode, localhost clustering on loopback), a ClusterPool connected to it, a small map.
/// The node's worker runs this app, as a node deployed with the app would.
/// </summary>
[SupportedOSPlatform("linux")]
internal static class ClusterCheck
{
    public static async Task RunAsync()
    {
        (int siloPort, int gatewayPort) = (FreePort(), FreePort());
        string clusterId = "package-check-" + Guid.NewGuid().ToString("N")[..8];
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        // Only what goes wrong: Orleans reports every step at Information.
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddProcessPoolNode(o =>
        {
            o.Name = "package-check";
            o.SiloPort = siloPort;
            o.GatewayPort = gatewayPort;
            o.BindAddress = IPAddress.Loopback;
            o.PoolOptions = new ProcessPoolOptions { Workers = 1 };
            o.ClusterId = o.ServiceId = clusterId;
        });
        using IHost node = builder.Build();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await node.StartAsync(bound.Token);
        try
        {
            await using ClusterPool pool = await ClusterPool.ConnectAsync(new ClusterPoolOptions
            {
                GatewayPorts = [gatewayPort],
                ClusterId = clusterId,
                ServiceId = clusterId,
                ConnectTimeout = TimeSpan.FromMinutes(1),
            }, bound.Token);
            const int Count = 10_000;
            long[] squares = await pool.MapAsync(Square, Enumerable.Range(0, Count), cancellationToken: bound.Token);
            long sum = squares.Sum();
            long expected = Enumerable.Range(0, Count).Sum(i => (long)i * i);
            Checks.Check(squares.Length == Count && sum == expected,
                $"Multiprocessing.Cluster: a node on 127.0.0.1:{gatewayPort} (AddProcessPoolNode), ClusterPool.MapAsync(Square, 0..{Count - 1}): {squares.Length} results, sum {sum:N0} (expected {expected:N0})");
            int workerPid = await pool.SubmitAsync(ProcessId, 0, bound.Token);
            IReadOnlyList<ClusterNodeInfo> nodes = await pool.GetNodesAsync(bound.Token);
            Checks.Check(workerPid != Environment.ProcessId && workerPid > 0 && nodes is [{ Name: "package-check", Workers: 1 }],
                $"Multiprocessing.Cluster: SubmitAsync ran in the node's worker process {workerPid}; nodes: {string.Join(", ", nodes.Select(n => $"{n.Name} ({n.Workers} worker)"))}");
        }
        finally
        {
            await node.StopAsync(CancellationToken.None);
        }
    }

    private static long Square(int x) => (long)x * x;

    private static int ProcessId(int _) => Environment.ProcessId;

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
