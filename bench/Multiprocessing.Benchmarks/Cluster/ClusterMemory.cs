using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Multiprocessing.Cluster;

namespace Multiprocessing.Benchmarks.Cluster;

/// <summary>What one run of the shared-array measurement found (bytes; seconds).</summary>
internal sealed record MemoryRound(
    long Bytes, double CopySeconds, double CopyCpuSeconds, double ReadSeconds, int WorkersRead, int Workers,
    long PssClient, long PssNodes, long PssWorkers, long IdleWorkerPss, long IdleNodesPss)
{
    public long PssTotal => PssClient + PssNodes + PssWorkers;

    /// <summary>Both nodes receive their copy at the same time, so each node's rate is its bytes over the time until both have it.</summary>
    public double CopyMBPerSecondPerNode => Bytes / 1e6 / CopySeconds;

    /// <summary>MB delivered (to both nodes) per second of CPU the client and the two node processes used meanwhile: what the copy costs, whatever else the machine runs.</summary>
    public double CopyMBPerCpuSecond => 2 * Bytes / 1e6 / CopyCpuSeconds;
}

/// <summary>The tasks of the shared-array measurement, run by the nodes' workers.</summary>
internal static class ClusterMemoryTasks
{
    /// <summary>Reads nothing of the array: a chunk naming it is enough for the node to need its copy.</summary>
    public static long Touch(SharedArray<byte> data) => data.Length;

    /// <summary>Sums every 8-byte word of the worker's mapping of the node's copy; [pid, sum].</summary>
    public static long[] ReadAll(SharedArray<byte> data) => [Environment.ProcessId, (long)Sum(data)];

    public static ulong Sum(SharedArray<byte> data)
    {
        ulong sum = 0;
        for (long at = 0; at < data.Length; at += 1 << 30)
        {
            foreach (ulong word in MemoryMarshal.Cast<byte, ulong>(data.AsReadOnlySpan(at, (int)Math.Min(1 << 30, data.Length - at))))
            {
                sum += word;
            }
        }
        return sum;
    }
}

/// <summary>
/// 2 nodes × 2 workers reading one shared array the client made (issue 13): two nodes started as
/// child processes, the array created and filled here, a map of tasks that only name it (each node
/// receives its copy: the copy time), a map in which every task reads all of it, and the PSS of
/// this client, the nodes and their workers while they hold it. The nodes and every worker they
/// had are killed by pid at the end, whatever happened; their segments go with them.
/// </summary>
internal static class ClusterMemory
{
    public const int WorkersPerNode = 2;

    public static async Task<MemoryRound> RunAsync(long bytes, int round, IReadOnlyDictionary<string, string> nodeEnvironment, Action<string> log)
    {
        await using TwoNodes cluster = await TwoNodes.StartAsync(string.Create(CultureInfo.InvariantCulture, $"mpbench-mem-{Environment.ProcessId}-{round}"), WorkersPerNode, nodeEnvironment).ConfigureAwait(false);
        (NodeProcess first, NodeProcess second, ClusterPool pool) = (cluster.First, cluster.Second, cluster.Pool);
        // Every worker started and warm before the idle figure.
        var oneEach = new MapOptions { ChunkSize = 1 };
        await pool.MapAsync(ClusterTasks.Nap, Enumerable.Range(0, 40), oneEach).ConfigureAwait(false);
        int[] idleWorkers = [.. first.Workers(), .. second.Workers()];
        long idleWorkerPss = Median(idleWorkers.Select(p => ProcessMemory.Read(p).Pss));
        // The nodes at the same moment: what they cost before any array exists, the floor under the row's node figure.
        long idleNodesPss = ProcessMemory.Read(first.Pid).Pss + ProcessMemory.Read(second.Pid).Pss;

        using SharedArray<byte> array = SharedArray<byte>.Create(bytes);
        ulong expected = Fill(array);
        SharedArray<byte> view = array.AsReadOnly();

        // Tasks that only name the array: their time is the copy to both nodes (at the same time) and the client's checksum.
        log($"   array filled; copying it to the nodes (client pid {Environment.ProcessId}, nodes {first.Pid} and {second.Pid})");
        TimeSpan cpuBefore = CpuTime(first.Pid, second.Pid);
        long started = Stopwatch.GetTimestamp();
        long[] lengths = await pool.MapAsync(ClusterMemoryTasks.Touch, Enumerable.Repeat(view, 4 * WorkersPerNode * 4), oneEach).ConfigureAwait(false);
        double copy = Stopwatch.GetElapsedTime(started).TotalSeconds;
        double copyCpu = (CpuTime(first.Pid, second.Pid) - cpuBefore).TotalSeconds;
        if (lengths.Any(l => l != bytes))
        {
            throw new InvalidOperationException("A worker saw a different length.");
        }
        IReadOnlyList<ClusterNodeInfo> nodes = await pool.GetNodesAsync().ConfigureAwait(false);
        if (nodes.Count != 2 || nodes.Any(n => n.SharedDataTransfers != 1 || n.SharedDataBytes != bytes))
        {
            throw new InvalidOperationException("Not one copy on each of the two nodes: " + string.Join(", ", nodes.Select(n => $"{n.Name} {n.SharedDataTransfers} transfers, {n.SharedDataBytes} bytes")));
        }
        log(string.Create(CultureInfo.InvariantCulture, $"   copy of {bytes / 1e6:0} MB to each node: {copy:0.00} s, {bytes / 1e6 / copy:0} MB/s per node; CPU of the client and the nodes meanwhile {copyCpu:0.00} s"));

        // Every task reads all of it; enough tasks that every worker runs some.
        started = Stopwatch.GetTimestamp();
        long[][] reads = await pool.MapAsync(ClusterMemoryTasks.ReadAll, Enumerable.Repeat(view, 4 * WorkersPerNode * 2), oneEach).ConfigureAwait(false);
        double read = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (reads.Any(r => (ulong)r[1] != expected))
        {
            throw new InvalidOperationException("A worker read a different sum.");
        }
        int[] workers = [.. first.Workers(), .. second.Workers()];
        long pssWorkers = workers.Sum(p => ProcessMemory.Read(p).Pss);
        long pssNodes = ProcessMemory.Read(first.Pid).Pss + ProcessMemory.Read(second.Pid).Pss;
        long pssClient = ProcessMemory.Read(Environment.ProcessId).Pss;
        return new MemoryRound(bytes, copy, copyCpu, read, reads.Select(r => r[0]).Distinct().Count(), workers.Length, pssClient, pssNodes, pssWorkers, idleWorkerPss, idleNodesPss);
    }

    /// <summary>CPU time (user + system) of this process and the two nodes (not their workers).</summary>
    private static TimeSpan CpuTime(params int[] nodes)
    {
        TimeSpan total = Process.GetCurrentProcess().TotalProcessorTime;
        foreach (int pid in nodes)
        {
            using Process node = Process.GetProcessById(pid);
            total += node.TotalProcessorTime;
        }
        return total;
    }

    /// <summary>A pattern no two words share, and its sum as the tasks compute it.</summary>
    private static ulong Fill(SharedArray<byte> array)
    {
        ulong sum = 0, i = 0;
        for (long at = 0; at < array.Length; at += 1 << 30)
        {
            foreach (ref ulong word in MemoryMarshal.Cast<byte, ulong>(array.AsSpan(at, (int)Math.Min(1 << 30, array.Length - at))))
            {
                word = i++ * 0x9E3779B97F4A7C15UL;
                sum += word;
            }
        }
        return sum;
    }

    private static long Median(IEnumerable<long> values)
    {
        long[] sorted = [.. values.Order()];
        return sorted.Length == 0 ? 0 : sorted[sorted.Length / 2];
    }
}
