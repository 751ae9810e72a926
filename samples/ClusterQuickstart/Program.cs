// A client and two local nodes of a cluster, in one program: the program starts itself twice as a
// node (AddProcessPoolNode in a generic host), connects a ClusterPool to them, and maps, streams and
// submits exactly as it would on a ProcessPool. On real machines each node runs there instead
// (this app deployed, or 'mp node --app ClusterQuickstart.dll'); only the options change.
//
//   dotnet run --project samples/ClusterQuickstart             (the tour)
//   dotnet run --project samples/ClusterQuickstart -- measure  (2 nodes x 1 worker: tiny-task map rate, submit round trip)
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Multiprocessing;
using Multiprocessing.Cluster;

if (args is ["node", var name, var siloPort, var gatewayPort, var workers, .. var rest])
{
    // A node: a silo on loopback whose local pool of 2 workers runs this app's methods.
    HostApplicationBuilder builder = Host.CreateApplicationBuilder();
    builder.Logging.AddFilter("Orleans", LogLevel.Warning).AddFilter("Microsoft", LogLevel.Warning).AddFilter("Polly", LogLevel.Warning);
    builder.Services.AddProcessPoolNode(o =>
    {
        o.Name = name;
        o.SiloPort = int.Parse(siloPort);
        o.GatewayPort = int.Parse(gatewayPort);
        // Localhost clustering: the first node keeps the membership; the others name its silo port.
        o.PrimarySiloPort = rest is [var primary] ? int.Parse(primary) : null;
        o.PoolOptions = new ProcessPoolOptions { Workers = int.Parse(workers) };
        o.ClusterId = o.ServiceId = "quickstart";
    });
    await builder.Build().RunAsync();
    return;
}

string self = Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal) ? typeof(Program).Assembly.Location : Environment.ProcessPath!;
Process StartNode(params string[] nodeArgs)
{
    var start = new ProcessStartInfo(self.EndsWith(".dll", StringComparison.Ordinal) ? "dotnet" : self) { UseShellExecute = false };
    if (self.EndsWith(".dll", StringComparison.Ordinal))
    {
        start.ArgumentList.Add(self);
    }
    start.ArgumentList.Add("node");
    foreach (string a in nodeArgs)
    {
        start.ArgumentList.Add(a);
    }
    return Process.Start(start)!;
}

bool measure = args is ["measure", ..];
string perNode = measure ? "1" : "2";
using Process first = StartNode("alpha", "21311", "31311", perNode);
using Process second = StartNode("beta", "21312", "31312", perNode, "21311");
try
{
    await using var pool = await ClusterPool.ConnectAsync(new ClusterPoolOptions
    {
        GatewayPorts = [31311, 31312],
        ClusterId = "quickstart",
        ServiceId = "quickstart",
    });
    var clock = Stopwatch.StartNew();
    while (pool.Nodes.Count < 2 && clock.Elapsed < TimeSpan.FromSeconds(60))
    {
        await Task.Delay(100);
    }

    if (measure)
    {
        await Measure(pool);
        return;
    }

    long[] squares = await pool.MapAsync(Square, Enumerable.Range(0, 1_000_000).Select(i => (long)i));
    Console.WriteLine($"MapAsync(Square, 0..999999): sum {squares.Sum():N0}");

    int primes = 0;
    await foreach (bool isPrime in pool.MapStreamAsync(IsPrime, Enumerable.Range(1_000_000, 200_000), new MapOptions { Ordered = false }))
    {
        primes += isPrime ? 1 : 0;
    }
    Console.WriteLine($"primes in [1000000, 1200000): {primes:N0}");
    Console.WriteLine($"SubmitAsync(Square, 7) = {await pool.SubmitAsync(Square, 7L)}");

    foreach (ClusterNodeInfo node in await pool.GetNodesAsync())
    {
        Console.WriteLine($"node {node.Name}: {node.Workers} workers, {node.BusyWorkers} busy, {node.MemoryBytes / (1024.0 * 1024):0.0} MiB");
    }
}
finally
{
    first.Kill(entireProcessTree: true);
    second.Kill(entireProcessTree: true);
}

static long Square(long x) => x * x;

static int Double(int x) => x * 2;

// The figures docs/cluster.md quotes: the same workload as Dask's peer (bench/python/cluster_peer.py).
static async Task Measure(ClusterPool pool)
{
    const int Items = 100_000;
    int[] input = Enumerable.Range(0, Items).ToArray();
    await pool.MapAsync(Double, input);
    var rates = new List<double>();
    for (int round = 0; round < 5; round++)
    {
        var clock = Stopwatch.StartNew();
        int[] doubled = await pool.MapAsync(Double, input);
        rates.Add(Items / clock.Elapsed.TotalSeconds);
        if (doubled[Items - 1] != (Items - 1) * 2)
        {
            throw new InvalidOperationException("wrong result");
        }
    }
    var trips = new List<double>();
    for (int i = 0; i < 1000; i++)
    {
        long start = Stopwatch.GetTimestamp();
        await pool.SubmitAsync(Double, i);
        trips.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
    }
    rates.Sort();
    trips.Sort();
    Console.WriteLine($"map {Items:N0} tiny items over 2 nodes x 1 worker: median {rates[rates.Count / 2]:N0} items/s (5 rounds, {rates[0]:N0}-{rates[^1]:N0})");
    Console.WriteLine($"submit round trip: p50 {trips[trips.Count / 2]:0.000} ms, p90 {trips[trips.Count * 9 / 10]:0.000} ms (1,000 sequential)");
}

static bool IsPrime(int n)
{
    if (n < 2)
    {
        return false;
    }
    for (int d = 2; (long)d * d <= n; d++)
    {
        if (n % d == 0)
        {
            return false;
        }
    }
    return true;
}
