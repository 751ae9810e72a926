using Multiprocessing.Cluster;
using Xunit.Abstractions;

namespace Multiprocessing.Tests.Cluster;

/// <summary>Read-only shared arrays passed to cluster tasks: one copy per node, sent once, read by the node's workers.</summary>
[Collection("cluster")]
public sealed class ClusterSharedDataTests(TwoNodeCluster cluster, ITestOutputHelper output) : IClassFixture<TwoNodeCluster>
{
    private const int Parts = 16;

    /// <summary>64 MiB of longs, element i holding i.</summary>
    private const long Elements = (64L << 20) / sizeof(long);

    [Fact]
    public async Task ReadOnlyArray_MappedOnTwoNodes_CorrectSums_SentOncePerNode()
    {
        using SharedArray<long> data = SharedArray<long>.Create(Elements);
        Span<long> span = data.AsSpan();
        for (int i = 0; i < span.Length; i++)
        {
            span[i] = i;
        }
        SharedArray<long> view = data.AsReadOnly();
        Dictionary<string, long> before = (await cluster.Pool.GetNodesAsync()).ToDictionary(n => n.Name, n => n.SharedDataTransfers);
        long expected = Elements * (Elements - 1) / 2;
        // Slow enough parts that both single-worker nodes take some.
        SlicePart[] parts = [.. Enumerable.Range(0, Parts).Select(p => new SlicePart(view, p))];

        var clock = System.Diagnostics.Stopwatch.StartNew();
        long[] first = await cluster.Pool.MapAsync(SumPart, parts, new MapOptions { ChunkSize = 1 });
        TimeSpan firstTime = clock.Elapsed;
        Assert.Equal(expected, first.Sum());
        IReadOnlyList<ClusterNodeInfo> afterFirst = await cluster.Pool.GetNodesAsync();
        Assert.All(afterFirst, n => Assert.Equal(1, n.SharedDataTransfers - before[n.Name]));
        Assert.All(afterFirst, n => Assert.Equal(Elements * sizeof(long), n.SharedDataBytes));
        // Each node's pieces went through a sink on its own gateway, not forwarded by the other node.
        Assert.All(cluster.Pool.Executors, n => Assert.True(n.PiecesThroughSink > 0, $"node {n.Name} took no piece through its own gateway"));

        clock.Restart();
        long[] second = await cluster.Pool.MapAsync(SumPart, parts, new MapOptions { ChunkSize = 1 });
        // Reported, not asserted: the first map includes sending 64 MiB to each node.
        output.WriteLine($"first map (with transfers) {firstTime.TotalMilliseconds:0} ms, second map {clock.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal(first, second);
        // The array passed directly (not inside a record) names the same copy.
        Assert.Equal(expected, await cluster.Pool.SubmitAsync(SumAll, view));
        IReadOnlyList<ClusterNodeInfo> afterSecond = await cluster.Pool.GetNodesAsync();
        Assert.All(afterSecond, n => Assert.Equal(1, n.SharedDataTransfers - before[n.Name]));
    }

    [Fact]
    public async Task ReadOnlyArray_OfSeveralPiecesTheLastPartial_ArrivesWhole_OnEveryNode()
    {
        // 8 MiB and 40 bytes: whole pieces and a partial last one; every element weighted by its place, so a piece
        // written at the wrong offset, twice or not at all changes the sum.
        const long Count = (2L * (4 << 20) + 40) / sizeof(long);
        using SharedArray<long> data = SharedArray<long>.Create(Count);
        Span<long> span = data.AsSpan();
        long expected = 0;
        for (int i = 0; i < span.Length; i++)
        {
            span[i] = (i * 31L) ^ 0x5A5A;
            expected = unchecked(expected + ((i + 1) * span[i]));
        }
        SharedArray<long> view = data.AsReadOnly();
        Dictionary<string, long> before = (await cluster.Pool.GetNodesAsync()).ToDictionary(n => n.Name, n => n.SharedDataTransfers);
        // Slow enough tasks that both single-worker nodes take some, so both receive a copy.
        long[] sums = await cluster.Pool.MapAsync(SlowWeightedSum, Enumerable.Repeat(view, 12), new MapOptions { ChunkSize = 1 });
        Assert.All(sums, s => Assert.Equal(expected, s));
        IReadOnlyList<ClusterNodeInfo> after = await cluster.Pool.GetNodesAsync();
        Assert.All(after, n => Assert.Equal(1, n.SharedDataTransfers - before[n.Name]));
    }

    [Fact]
    public async Task ReadOnlyArray_WorkersMapTheNodesCopy_NotTheClients()
    {
        using SharedArray<long> data = SharedArray<long>.CreateFrom([1, 2, 3]);
        // The node copies bytes into a SharedArray<byte>; the client's segment is a SharedArray<Int64>.
        // /proc/self/maps of the worker names the memfd it mapped.
        string maps = await cluster.Pool.SubmitAsync(MappedArrays, data.AsReadOnly());
        Assert.Contains("SharedArray<Byte>", maps, StringComparison.Ordinal);
        Assert.DoesNotContain("SharedArray<Int64>", maps, StringComparison.Ordinal);
    }

    [Fact]
    public void WritableArray_RefusedAtTheCall_SaysAsReadOnly()
    {
        using SharedArray<long> data = SharedArray<long>.Create(4);
        ArgumentException direct = Assert.Throws<ArgumentException>(() => { _ = cluster.Pool.SubmitAsync(SumAll, data); });
        Assert.Contains("AsReadOnly()", direct.Message, StringComparison.Ordinal);
        ArgumentException inRecord = Assert.Throws<ArgumentException>(() => { _ = cluster.Pool.MapAsync(SumPart, [new SlicePart(data, 0)]); });
        Assert.Contains("items[0].Data", inRecord.Message, StringComparison.Ordinal);
        using SharedValue<long> value = SharedValue<long>.Create();
        Assert.Throws<ArgumentException>(() => { _ = cluster.Pool.SubmitAsync(Read, value); });
    }

    [Fact]
    public async Task NodeCopies_ReleasedWhenTheClientDisposesTheArray_AndWhenItDisconnects()
    {
        // Arrays of the tests before this one were disposed; the fixture's client has the nodes drop them.
        await Wait.UntilAsync(() => cluster.Pool.GetNodesAsync().Result.All(n => n.SharedDataBytes == 0), "the nodes hold no copies");
        await using (ClusterPool other = await ClusterPool.ConnectAsync(cluster.Nodes.ClientOptions()))
        {
            await Wait.UntilAsync(() => other.Nodes.Count == 2, "the second client sees both nodes");
            using SharedArray<long> kept = SharedArray<long>.CreateFrom([5, 6]);
            SharedArray<long> dropped = SharedArray<long>.CreateFrom([7, 8, 9]);
            Assert.Equal(11, await other.SubmitAsync(SumAll, kept.AsReadOnly()));
            Assert.Equal(24, await other.SubmitAsync(SumAll, dropped.AsReadOnly()));
            Assert.Contains(await cluster.Pool.GetNodesAsync(), n => n.SharedDataBytes >= 5 * sizeof(long));
            dropped.Dispose();
            await Wait.UntilAsync(() => cluster.Pool.GetNodesAsync().Result.Sum(n => n.SharedDataBytes) == 2 * sizeof(long),
                "the nodes drop their copies of the disposed array");
        }
        await Wait.UntilAsync(() => cluster.Pool.GetNodesAsync().Result.All(n => n.SharedDataBytes == 0), "the nodes drop the disconnected client's copies");
    }

    public sealed record SlicePart(SharedArray<long> Data, int Part);

    private static long SumPart(SlicePart p)
    {
        Thread.Sleep(50);
        long length = p.Data.Length / Parts;
        long sum = 0;
        foreach (long x in p.Data.AsReadOnlySpan(p.Part * length, (int)length))
        {
            sum += x;
        }
        return sum;
    }

    private static long SumAll(SharedArray<long> data)
    {
        long sum = 0;
        for (long at = 0; at < data.Length; at += 1 << 24)
        {
            foreach (long x in data.AsReadOnlySpan(at, (int)Math.Min(1 << 24, data.Length - at)))
            {
                sum += x;
            }
        }
        return sum;
    }

    private static long SlowWeightedSum(SharedArray<long> data)
    {
        Thread.Sleep(100);
        long sum = 0;
        ReadOnlySpan<long> span = data.AsReadOnlySpan();
        for (int i = 0; i < span.Length; i++)
        {
            sum = unchecked(sum + ((i + 1) * span[i]));
        }
        return sum;
    }

    private static string MappedArrays(SharedArray<long> data) =>
        data[2] == 3 ? string.Join("\n", File.ReadLines("/proc/self/maps").Where(l => l.Contains("SharedArray", StringComparison.Ordinal))) : "wrong contents";

    private static long Read(SharedValue<long> value) => value.Value;
}
