using MemoryPack;
using Multiprocessing.MemoryPack;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;

namespace Multiprocessing.Tests.Serialization;

[MemoryPackable]
public sealed partial record PackedOrder(long Id, string Customer, decimal Total, DateTime Placed, List<string> Lines);

internal static class PackedTasks
{
    public static PackedOrder Discount(PackedOrder order) => order with { Total = order.Total * 0.9m, Lines = [.. order.Lines, "discount"] };
}

/// <summary>The MemoryPack adapter: which types it takes, and records through real workers with it.</summary>
public sealed class MemoryPackSerializerTests
{
    [Fact]
    public void CanSerialize_PackableTypesAndTheirArraysAndLists_OnlyThose()
    {
        var serializer = new MemoryPackWorkerSerializer();
        Assert.True(serializer.CanSerialize(typeof(PackedOrder)));
        Assert.True(serializer.CanSerialize(typeof(PackedOrder[])));
        Assert.True(serializer.CanSerialize(typeof(List<PackedOrder>)));
        Assert.False(serializer.CanSerialize(typeof(Point)));
        Assert.False(serializer.CanSerialize(typeof(int)));
        Assert.False(serializer.CanSerialize(typeof(string)));
    }

    [Fact]
    public void Codec_PackableRecord_IsWrittenByMemoryPackAndRoundTrips()
    {
        var codecs = new CodecProvider(new MemoryPackWorkerSerializer());
        Codec<PackedOrder> codec = codecs.Get<PackedOrder>();
        Assert.IsType<UserCodec<PackedOrder>>(codec);
        var order = new PackedOrder(7, "Ada", 12.34m, new DateTime(2026, 12, 6, 1, 2, 3, DateTimeKind.Utc), ["a", "b"]);
        var writer = new PayloadWriter();
        codec.Write(writer, order);
        var reader = new PayloadReader(writer.WrittenSpan);
        PackedOrder copy = codec.Read(ref reader);
        Assert.Equal(0, reader.Remaining);
        Assert.Equal((order.Id, order.Customer, order.Total, order.Placed), (copy.Id, copy.Customer, copy.Total, copy.Placed));
        Assert.Equal(order.Lines, copy.Lines);
        Assert.Equal(DateTimeKind.Utc, copy.Placed.Kind);
    }

    [Fact]
    public void Utf16Serializer_WritesStringsAsUtf16_AndEachSerializerReadsTheOthersBytes()
    {
        var utf8 = new MemoryPackWorkerSerializer();
        var utf16 = new MemoryPackUtf16WorkerSerializer();
        Assert.True(utf16.CanSerialize(typeof(List<PackedOrder>)));
        Assert.False(utf16.CanSerialize(typeof(string)));
        var order = new PackedOrder(7, "Zoë Łukasiewicz 𝔸", 12.34m, new DateTime(2026, 12, 6, 1, 2, 3, DateTimeKind.Utc), ["naïve", "日本"]);
        var narrow = new System.Buffers.ArrayBufferWriter<byte>();
        var wide = new System.Buffers.ArrayBufferWriter<byte>();
        utf8.Serialize(narrow, order);
        utf16.Serialize(wide, order);
        // The same record is longer with UTF-16 strings: the option reached MemoryPack.
        Assert.True(wide.WrittenCount > narrow.WrittenCount, $"UTF-16 {wide.WrittenCount} bytes, UTF-8 {narrow.WrittenCount}");
        foreach (PackedOrder copy in new[] { utf8.Deserialize<PackedOrder>(wide.WrittenSpan), utf16.Deserialize<PackedOrder>(narrow.WrittenSpan), utf16.Deserialize<PackedOrder>(wide.WrittenSpan) })
        {
            Assert.Equal((order.Id, order.Customer, order.Total, order.Placed), (copy.Id, copy.Customer, copy.Total, copy.Placed));
            Assert.Equal(order.Lines, copy.Lines);
        }
    }

    [Fact]
    public async Task MapAsync_Utf16Serializer_RecordsWithNonAsciiStringsRoundTripThroughWorkers()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, Serializer = new MemoryPackUtf16WorkerSerializer() });
        PackedOrder[] orders = [.. Enumerable.Range(0, 50).Select(i => new PackedOrder(i, "Zoë " + i, i, DateTime.UnixEpoch.AddDays(i), ["日本" + i]))];
        PackedOrder[] discounted = await pool.MapAsync(PackedTasks.Discount, orders).WaitAsync(Bounds.Unexpected);
        for (int i = 0; i < orders.Length; i++)
        {
            Assert.Equal(orders[i].Customer, discounted[i].Customer);
            Assert.Equal([.. orders[i].Lines, "discount"], discounted[i].Lines);
        }
    }

    [Fact]
    public async Task MapAsync_PackableRecords_RoundTripThroughWorkers()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, Serializer = new MemoryPackWorkerSerializer() });
        PackedOrder[] orders = [.. Enumerable.Range(0, 500).Select(i => new PackedOrder(i, "c" + i, i, DateTime.UnixEpoch.AddDays(i), ["x" + i]))];

        PackedOrder[] discounted = await pool.MapAsync(PackedTasks.Discount, orders);

        Assert.Equal(orders.Length, discounted.Length);
        for (int i = 0; i < orders.Length; i++)
        {
            Assert.Equal(orders[i].Id, discounted[i].Id);
            Assert.Equal(orders[i].Total * 0.9m, discounted[i].Total);
            Assert.Equal(orders[i].Placed, discounted[i].Placed);
            Assert.Equal(["x" + i, "discount"], discounted[i].Lines);
        }
    }
}
