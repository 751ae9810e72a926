using System.Diagnostics;
using System.Globalization;
using Multiprocessing.Cluster;

namespace Multiprocessing.Benchmarks.Cluster;

/// <summary>What one round of ours measured, on a cluster of its own.</summary>
internal sealed record OursRound(double MapItemsPerSecond, double SubmitP50Us, double SubmitP99Us, double CleanSeconds, double KillSeconds, bool KillResultsCorrect);

/// <summary>The tasks the nodes' workers run: the same as the Dask peer's (bench/python/cluster_peer.py).</summary>
internal static class ClusterTasks
{
    public static int Double(int x) => x * 2;

    public static int Nap(int x)
    {
        Thread.Sleep(ClusterSession.NapMilliseconds);
        return x * 2;
    }
}

/// <summary>
/// One round of ours: two nodes of <c>workers</c> each started as child processes on loopback (the
/// first keeps the localhost membership), a ClusterPool connected to both, the measurements, and
/// the nodes killed by pid at the end, whatever happened.
/// </summary>
internal static class ClusterSession
{
    /// <summary>Sleep of one task of the failure measurement, as the Dask peer's --sleep-ms.</summary>
    public const int NapMilliseconds = 20;

    public static async Task<OursRound> RunAsync(ClusterSettings settings, int round, Action<string> log)
    {
        await using TwoNodes cluster = await TwoNodes.StartAsync(string.Create(CultureInfo.InvariantCulture, $"mpbench-{Environment.ProcessId}-{round}"), settings.WorkersPerNode, settings.NodeEnvironment).ConfigureAwait(false);
        (NodeProcess first, NodeProcess second, ClusterPool pool) = (cluster.First, cluster.Second, cluster.Pool);
        log($"   2 nodes up after {cluster.JoinTime.TotalSeconds:0.0} s");

        int[] input = [.. Enumerable.Range(0, settings.MapItems)];
        Check(await pool.MapAsync(ClusterTasks.Double, input).ConfigureAwait(false), "warm-up map");
        for (int i = 0; i < 50; i++)
        {
            await pool.SubmitAsync(ClusterTasks.Double, i).ConfigureAwait(false);
        }

        long started = Stopwatch.GetTimestamp();
        int[] doubled = await pool.MapAsync(ClusterTasks.Double, input).ConfigureAwait(false);
        double mapRate = input.Length / Stopwatch.GetElapsedTime(started).TotalSeconds;
        Check(doubled, "map");

        double[] trips = new double[settings.Submits];
        for (int i = 0; i < trips.Length; i++)
        {
            long t = Stopwatch.GetTimestamp();
            int r = await pool.SubmitAsync(ClusterTasks.Double, i).ConfigureAwait(false);
            trips[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
            if (r != i * 2)
            {
                throw new InvalidOperationException($"submit {i} gave {r}");
            }
        }
        Array.Sort(trips);
        (double p50, double p99, _) = SideBySide.Percentiles.OfSorted(trips);

        // One task per chunk, as Dask's client.map runs one task per item: a lost node loses only what it held.
        var oneEach = new MapOptions { ChunkSize = 1 };
        int[] naps = [.. Enumerable.Range(0, settings.KillItems)];
        started = Stopwatch.GetTimestamp();
        Check(await pool.MapAsync(ClusterTasks.Nap, naps, oneEach).ConfigureAwait(false), "map without failure");
        double clean = Stopwatch.GetElapsedTime(started).TotalSeconds;

        started = Stopwatch.GetTimestamp();
        Task<int[]> running = pool.MapAsync(ClusterTasks.Nap, naps, oneEach);
        await Task.Delay(settings.KillAfter).ConfigureAwait(false);
        // The second node, not the first: with localhost clustering the first keeps the membership table.
        second.KillNodeOnly();
        int[] afterKill = await running.ConfigureAwait(false);
        double killed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        bool correct = afterKill.Length == naps.Length && afterKill.Select((v, i) => v == i * 2).All(ok => ok);
        return new OursRound(mapRate, p50, p99, clean, killed, correct);
    }

    private static void Check(int[] results, string what)
    {
        for (int i = 0; i < results.Length; i++)
        {
            if (results[i] != i * 2)
            {
                throw new InvalidOperationException($"{what}: item {i} gave {results[i]}");
            }
        }
    }
}
