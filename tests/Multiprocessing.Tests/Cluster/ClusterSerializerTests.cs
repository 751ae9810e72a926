using System.Buffers;
using System.Runtime.Serialization;
using Multiprocessing.Cluster;
using Multiprocessing.MemoryPack;
using Multiprocessing.Tests.Channels;
using Multiprocessing.Tests.Serialization;

namespace Multiprocessing.Tests.Cluster;

/// <summary>
/// ClusterPoolOptions.Serializer and JsonContext: the client encodes with them, the nodes pass the
/// bytes on untouched, and the nodes' workers create the same serializer by name and read with it.
/// Each test is a client of its own on the two nodes of the fixture.
/// </summary>
[Collection("cluster")]
public sealed class ClusterSerializerTests(TwoNodeCluster cluster) : IClassFixture<TwoNodeCluster>
{
    [Fact]
    public async Task UserSerializer_RecordRoundTripsThroughBothNodes()
    {
        ClusterPoolOptions options = cluster.Nodes.ClientOptions();
        options.Serializer = new MemoryPackWorkerSerializer();
        await using ClusterPool pool = await ClusterPool.ConnectAsync(options);
        await Wait.UntilAsync(() => pool.Nodes.Count == 2, "the client sees both nodes");

        // PackedReading's Level is [JsonIgnore]: it arrives, and comes back, only if MemoryPack
        // carried it both ways (through JSON the worker would see 0 and return 0).
        PackedReading one = await pool.SubmitAsync(SerializerTasks.DoubleLevel, new PackedReading(1, "a", 1.25)).WaitAsync(Bounds.Unexpected);
        Assert.Equal(new PackedReading(1, "a!", 2.5), one);

        PackedReading[] readings = [.. Enumerable.Range(0, 400).Select(i => new PackedReading(i, "s" + i, i + 0.5))];
        PackedReading[] doubled = await pool.MapAsync(SerializerTasks.DoubleLevel, readings, new MapOptions { ChunkSize = 10 }).WaitAsync(Bounds.Unexpected);
        Assert.Equal(readings.Select(r => new PackedReading(r.Id, r.Sensor + "!", r.Level * 2)), doubled);

        // Both nodes' workers read with it (slow items, more than one node's worker holds).
        int[] pids = await pool.MapAsync(SerializerTasks.SlowPid, readings.Take(8), new MapOptions { ChunkSize = 1 }).WaitAsync(Bounds.Unexpected);
        int[] workers = [.. cluster.Nodes.Nodes.SelectMany(n => n.WorkerPids())];
        Assert.All(pids, pid => Assert.Contains(pid, workers));
        Assert.True(cluster.Nodes.Nodes.All(n => n.WorkerPids().Intersect(pids).Any()), "a node's workers did not take any reading");

        // The same static method, unchanged, on one machine.
        await using var local = new ProcessPool(new ProcessPoolOptions { Workers = 1, Serializer = new MemoryPackWorkerSerializer() });
        Assert.Equal(one, await local.SubmitAsync(SerializerTasks.DoubleLevel, new PackedReading(1, "a", 1.25)).WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task UserSerializer_AnotherClientWithout_ItIsNotUsedForIt()
    {
        // The nodes' pools are shared by clients with and without a serializer: each is read with its own.
        ClusterPoolOptions options = cluster.Nodes.ClientOptions();
        options.Serializer = new MemoryPackWorkerSerializer();
        await using ClusterPool packed = await ClusterPool.ConnectAsync(options);
        await using ClusterPool plain = await ClusterPool.ConnectAsync(cluster.Nodes.ClientOptions());
        var reading = new PackedReading(3, "x", 4);
        Assert.Equal(new PackedReading(3, "x!", 8), await packed.SubmitAsync(SerializerTasks.DoubleLevel, reading).WaitAsync(Bounds.Unexpected));
        Assert.Equal(new PackedReading(3, "x!", 0), await plain.SubmitAsync(SerializerTasks.DoubleLevel, reading).WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task JsonContext_RecordsReadWithTheContextInTheNodesWorkers()
    {
        ClusterPoolOptions options = cluster.Nodes.ClientOptions();
        options.JsonContext = PoolJsonContext.Default;
        await using ClusterPool pool = await ClusterPool.ConnectAsync(options);
        Assert.Equal("7:Ada:a+b read with PoolJsonContext", await pool.SubmitAsync(ContextOrderTasks.Describe, new ContextOrder(7, "Ada", ["a", "b"])).WaitAsync(Bounds.Unexpected));
        ContextOrder back = await pool.SubmitAsync(ContextOrderTasks.Extend, new ContextOrder(1, "b", [])).WaitAsync(Bounds.Unexpected);
        Assert.Equal((2, "PoolJsonContext"), (back.OrderId, back.ReadWith));
    }

    [Fact]
    public async Task SerializerTheWorkersCannotCreate_WorkerStartExceptionAsOnProcessPool_NodesGoOn()
    {
        ParentOnlySerializer.ParentProcessId = Environment.ProcessId;

        // On one machine: the workers cannot create it, and the call fails with WorkerStartException.
        await using (var local = new ProcessPool(new ProcessPoolOptions { Workers = 1, Serializer = new ParentOnlySerializer() }))
        {
            await Assert.ThrowsAsync<WorkerStartException>(() => local.SubmitAsync(SerializerTasks.DoubleLevel, new PackedReading(1, "a", 1)).WaitAsync(Bounds.Unexpected));
        }

        ClusterPoolOptions options = cluster.Nodes.ClientOptions();
        options.Serializer = new ParentOnlySerializer();
        await using ClusterPool pool = await ClusterPool.ConnectAsync(options);
        WorkerStartException error = await Assert.ThrowsAsync<WorkerStartException>(() => pool.SubmitAsync(SerializerTasks.DoubleLevel, new PackedReading(1, "a", 1)).WaitAsync(Bounds.Unexpected));
        Assert.Contains(nameof(ParentOnlySerializer), error.Message, StringComparison.Ordinal);
        Assert.Contains("made only in the test process", error.Message, StringComparison.Ordinal);
        Assert.Contains("on node node", error.Message, StringComparison.Ordinal);
        // Every call of that client fails the same way, map included, and none waits.
        await Assert.ThrowsAsync<WorkerStartException>(() => pool.MapAsync(SerializerTasks.DoubleLevel, [new PackedReading(1, "a", 1), new PackedReading(2, "b", 2)]).WaitAsync(Bounds.Unexpected));
        // The nodes were not counted lost, and serve other clients.
        Assert.Equal(2, pool.Nodes.Count);
        Assert.Equal(49, await cluster.Pool.SubmitAsync(Tasks.Square, 7).WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task SerializerWithoutParameterlessConstructor_RefusedAtConnect()
    {
        ClusterPoolOptions options = cluster.Nodes.ClientOptions();
        options.Serializer = new ConfiguredSerializer(3);
        ArgumentException error = await Assert.ThrowsAsync<ArgumentException>(() => ClusterPool.ConnectAsync(options));
        Assert.Equal(nameof(ClusterPoolOptions.Serializer), error.ParamName);
    }

    [Fact]
    public async Task SerializerFailsToReadInTheWorker_SameExceptionAsOnProcessPool()
    {
        ParentOnlySerializer.ParentProcessId = Environment.ProcessId;
        await using var local = new ProcessPool(new ProcessPoolOptions { Workers = 1, Serializer = new WritesOnlyHereSerializer() });
        Exception onOne = await Record.ExceptionAsync(() => local.SubmitAsync(SerializerTasks.DoubleLevel, new PackedReading(1, "a", 1)).WaitAsync(Bounds.Unexpected));

        ClusterPoolOptions options = cluster.Nodes.ClientOptions();
        options.Serializer = new WritesOnlyHereSerializer();
        await using ClusterPool pool = await ClusterPool.ConnectAsync(options);
        Exception onMany = await Record.ExceptionAsync(() => pool.SubmitAsync(SerializerTasks.DoubleLevel, new PackedReading(1, "a", 1)).WaitAsync(Bounds.Unexpected));

        Assert.IsType<SerializationException>(onOne);
        Assert.IsType<SerializationException>(onMany);
        Assert.Contains("refuses to read here", onMany.Message, StringComparison.Ordinal);
        Assert.Equal(Assert.IsType<WorkerException>(onOne.InnerException).RemoteTypeName, Assert.IsType<WorkerException>(onMany.InnerException).RemoteTypeName);
    }
}

/// <summary>MemoryPack in the test process; any other process (a worker) fails to read what it wrote.</summary>
public sealed class WritesOnlyHereSerializer : IWorkerSerializer
{
    private readonly MemoryPackWorkerSerializer _inner = new();

    public bool CanSerialize(Type type) => _inner.CanSerialize(type);

    public void Serialize<T>(IBufferWriter<byte> writer, T value) => _inner.Serialize(writer, value);

    public T Deserialize<T>(ReadOnlySpan<byte> data) => Environment.ProcessId == ParentOnlySerializer.ParentProcessId
        ? _inner.Deserialize<T>(data)
        : throw new InvalidDataException("this serializer refuses to read here");
}

internal static class SerializerTasks
{
    public static PackedReading DoubleLevel(PackedReading r) => r with { Sensor = r.Sensor + "!", Level = r.Level * 2 };

    public static int SlowPid(PackedReading _)
    {
        Thread.Sleep(200);
        return Environment.ProcessId;
    }
}
