using System.Buffers;
using System.Runtime.Serialization;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using System.Threading.Channels;
using MemoryPack;
using Multiprocessing.MemoryPack;
using Multiprocessing.Serialization;

namespace Multiprocessing.Tests.Channels;

/// <summary>A record JSON does not carry whole (it leaves the [JsonIgnore] Level out, so Level arrives as 0) but MemoryPack does: it arrives equal only when both sides use MemoryPack.</summary>
[MemoryPackable]
public sealed partial record PackedReading(int Id, string Sensor, [property: JsonIgnore] double Level);

public sealed record ContextJob(int Id, string Name, List<string> Tags);

public sealed record ContextPartial(int Id)
{
    public string Secret { get; private set; } = "";
}

[JsonSerializable(typeof(ContextJob))]
[JsonSerializable(typeof(ContextPartial))]
public sealed partial class ChannelJsonContext : JsonSerializerContext;

/// <summary>A serializer only the test process can create: every other process fails in its constructor.</summary>
public sealed class ParentOnlySerializer : IWorkerSerializer
{
    public static int ParentProcessId;

    private readonly MemoryPackWorkerSerializer _inner = new();

    public ParentOnlySerializer()
    {
        if (Environment.ProcessId != ParentProcessId)
        {
            throw new InvalidOperationException("made only in the test process");
        }
    }

    public bool CanSerialize(Type type) => _inner.CanSerialize(type);

    public void Serialize<T>(IBufferWriter<byte> writer, T value) => _inner.Serialize(writer, value);

    public T Deserialize<T>(ReadOnlySpan<byte> data) => _inner.Deserialize<T>(data);
}

/// <summary>A serializer that takes records in the test process only: as if another build of it were loaded elsewhere.</summary>
public sealed class SplitMindSerializer : IWorkerSerializer
{
    private readonly MemoryPackWorkerSerializer _inner = new();

    public bool CanSerialize(Type type) => Environment.ProcessId == ParentOnlySerializer.ParentProcessId && _inner.CanSerialize(type);

    public void Serialize<T>(IBufferWriter<byte> writer, T value) => _inner.Serialize(writer, value);

    public T Deserialize<T>(ReadOnlySpan<byte> data) => _inner.Deserialize<T>(data);
}

/// <summary>A serializer another process could not create: its only constructor takes an argument.</summary>
public sealed class ConfiguredSerializer(int level) : IWorkerSerializer
{
    public int Level { get; } = level;

    public bool CanSerialize(Type type) => false;

    public void Serialize<T>(IBufferWriter<byte> writer, T value) => throw new NotSupportedException();

    public T Deserialize<T>(ReadOnlySpan<byte> data) => throw new NotSupportedException();
}

internal static class SerializerChannelTasks
{
    public static async Task ProduceReadings((SharedChannel<PackedReading> Channel, int Count) a)
    {
        for (int i = 0; i < a.Count; i++)
        {
            await a.Channel.Writer.WriteAsync(new PackedReading(i, "s" + i, i + 0.25));
        }
        a.Channel.Writer.Complete();
    }

    public static async Task<int> EchoReadings(PipeEnd<PackedReading> end)
    {
        int count = 0;
        await foreach (PackedReading reading in end.ReceiveAllAsync())
        {
            await end.SendAsync(reading with { Level = reading.Level * 2 });
            count++;
        }
        end.Complete();
        return count;
    }

    public static async Task<string> JoinContextJobs(SharedChannel<ContextJob> jobs)
    {
        var names = new List<string>();
        await foreach (ContextJob job in jobs.Reader.ReadAllAsync())
        {
            names.Add($"{job.Id}:{job.Name}:{string.Join("+", job.Tags)}");
        }
        return string.Join(",", names);
    }

    public static int CountWaiting(SharedChannel<PackedReading> channel) => channel.Reader.Count;
}

public sealed class ChannelSerializerTests
{
    [Fact]
    public async Task MemoryPackChannel_PoolWorkerProducesRecords_ParentConsumesThemWhole()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        using var channel = SharedChannel.CreateBounded<PackedReading>(new SharedChannelOptions(8) { Serializer = new MemoryPackWorkerSerializer() });
        Task producer = pool.SubmitAsync(SerializerChannelTasks.ProduceReadings, (channel, 200));
        var received = new List<PackedReading>();
        await foreach (PackedReading reading in channel.Reader.ReadAllAsync().WithCancellation(new CancellationTokenSource(Bounds.Unexpected).Token))
        {
            received.Add(reading);
        }
        await producer.WaitAsync(Bounds.Unexpected);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => new PackedReading(i, "s" + i, i + 0.25)), received);
    }

    [Fact]
    public async Task Pipe_WithASerializer_CarriesRecordsBothWaysBetweenProcesses()
    {
        var (left, right) = Pipe.Create<PackedReading>(new MemoryPackWorkerSerializer(), capacity: 4);
        using (left)
        using (right)
        using (var child = WorkerProcess.Start(SerializerChannelTasks.EchoReadings, right))
        {
            for (int i = 0; i < 50; i++)
            {
                await left.SendAsync(new PackedReading(i, "p" + i, i));
                Assert.Equal(new PackedReading(i, "p" + i, i * 2.0), await left.ReceiveAsync().AsTask().WaitAsync(Bounds.Unexpected));
            }
            left.Complete();
            Assert.Equal(50, await child.Result.WaitAsync(Bounds.Unexpected));
        }
    }

    [Fact]
    public async Task JsonContextChannel_ItemsUseTheContextsMetadata_AndCrossToAWorker()
    {
        var options = new SharedChannelOptions(16) { JsonContext = ChannelJsonContext.Default };
        Codec<ContextJob> codec = options.Codecs().Get<ContextJob>();
        JsonTypeInfo info = Assert.IsType<JsonCodec<ContextJob>>(codec).Options.GetTypeInfo(typeof(ContextJob));
        Assert.Same(ChannelJsonContext.Default, info.OriginatingResolver);

        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        using var jobs = SharedChannel.CreateBounded<ContextJob>(options);
        Task<string> consumer = pool.SubmitAsync(SerializerChannelTasks.JoinContextJobs, jobs);
        for (int i = 0; i < 50; i++)
        {
            await jobs.Writer.WriteAsync(new ContextJob(i, "n" + i, ["a", "\uD800"]));
        }
        jobs.Writer.Complete();
        string joined = await consumer.WaitAsync(Bounds.Unexpected);
        Assert.Equal(string.Join(",", Enumerable.Range(0, 50).Select(i => $"{i}:n{i}:a+\uD800")), joined);
    }

    [Fact]
    public void JsonContextChannel_TypeTheContextCarriesOnlyInPart_IsStillRefused()
    {
        NotSupportedException error = Assert.Throws<NotSupportedException>(
            () => SharedChannel.CreateBounded<ContextPartial>(new SharedChannelOptions(4) { JsonContext = ChannelJsonContext.Default }));
        Assert.Contains("Secret", error.Message);
    }

    [Fact]
    public void CreateBounded_SerializerWithoutAParameterlessConstructor_IsRefusedAtCreation()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(
            () => SharedChannel.CreateBounded<int>(new SharedChannelOptions(4) { Serializer = new ConfiguredSerializer(3) }));
        Assert.Contains("public parameterless constructor", error.Message);
    }

    [Fact]
    public async Task Channel_ArrivesWhereItsSerializerCannotBeCreated_FailsThereWithTheReason()
    {
        ParentOnlySerializer.ParentProcessId = Environment.ProcessId;
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        using var channel = SharedChannel.CreateBounded<PackedReading>(new SharedChannelOptions(4) { Serializer = new ParentOnlySerializer() });
        SerializationException error = await Assert.ThrowsAsync<SerializationException>(() => pool.SubmitAsync(SerializerChannelTasks.CountWaiting, channel).WaitAsync(Bounds.Unexpected));
        Assert.Contains("could not read the argument", error.Message);
        WorkerException remote = Assert.IsType<WorkerException>(error.InnerException);
        Assert.Equal(typeof(SerializationException).FullName, remote.RemoteTypeName);
        Assert.Contains(nameof(ParentOnlySerializer), remote.RemoteMessage);
        Assert.Contains("could not be created in this process", remote.RemoteMessage);
        Assert.Contains("made only in the test process", remote.RemoteMessage);
    }

    [Fact]
    public async Task Channel_ArrivesWhereItsSerializerDoesNotTakeTheItems_FailsThereInsteadOfMisreading()
    {
        ParentOnlySerializer.ParentProcessId = Environment.ProcessId;
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        using var channel = SharedChannel.CreateBounded<PackedReading>(new SharedChannelOptions(4) { Serializer = new SplitMindSerializer() });
        SerializationException error = await Assert.ThrowsAsync<SerializationException>(() => pool.SubmitAsync(SerializerChannelTasks.CountWaiting, channel).WaitAsync(Bounds.Unexpected));
        WorkerException remote = Assert.IsType<WorkerException>(error.InnerException);
        Assert.Equal(typeof(SerializationException).FullName, remote.RemoteTypeName);
        Assert.Contains("does not take", remote.RemoteMessage);
    }

    [Fact]
    public void Named_OpenedWithTheCreatorsSerializer()
    {
        string name = "ser-" + Guid.NewGuid().ToString("N")[..8];
        using var created = SharedChannel.CreateBounded<PackedReading>(new SharedChannelOptions(4) { Serializer = new MemoryPackWorkerSerializer() }, name);
        using SharedChannel<PackedReading> opened = SharedChannel.Open<PackedReading>(name);
        Assert.True(created.Writer.TryWrite(new PackedReading(1, "x", 1.5)));
        Assert.True(opened.Reader.TryRead(out PackedReading? read));
        Assert.Equal(new PackedReading(1, "x", 1.5), read);
    }
}
