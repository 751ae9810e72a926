using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Multiprocessing.Serialization;

namespace Multiprocessing.Tests.Serialization;

public sealed record ContextOrder(int OrderId, string CustomerName, List<string> LineItems)
{
    /// <summary>Set as the record is read: which resolver the reading process took its metadata from.</summary>
    [JsonConverter(typeof(ResolverWitness))]
    public string ReadWith { get; init; } = "";
}

[JsonSerializable(typeof(ContextOrder))]
public sealed partial class PoolJsonContext : JsonSerializerContext;

/// <summary>Reads as the name of the resolver the reader's options give <see cref="ContextOrder"/>'s metadata: the context, or reflection.</summary>
public sealed class ResolverWitness : JsonConverter<string>
{
    public override string Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        reader.Skip();
        return options.GetTypeInfo(typeof(ContextOrder)).OriginatingResolver?.GetType().Name ?? "no resolver";
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}

/// <summary>A resolver another process could not create: no Default, no parameterless constructor.</summary>
public sealed class ConfiguredResolver(int level) : IJsonTypeInfoResolver
{
    public int Level => level;

    public JsonTypeInfo? GetTypeInfo(Type type, JsonSerializerOptions options) => null;
}

internal static class ContextOrderTasks
{
    private static string s_initialized = "";

    public static void Remember(ContextOrder order) => s_initialized = Describe(order);

    public static string Initialized() => s_initialized;

    public static string Describe(ContextOrder order) => $"{order.OrderId}:{order.CustomerName}:{string.Join('+', order.LineItems)} read with {order.ReadWith}";

    public static ContextOrder Extend(ContextOrder order) => order with { OrderId = order.OrderId + 1, LineItems = [.. order.LineItems, "worker"] };
}

/// <summary>ProcessPoolOptions.JsonContext: the pool's JSON path uses the user's context, in the caller and in every worker.</summary>
public sealed class PoolJsonContextTests
{
    [Fact]
    public async Task JsonContext_RecordsRoundTripThroughAWorker_ReadWithTheContextOnBothSides()
    {
        var order = new ContextOrder(7, "Ada", ["a", "b"]);
        ProcessPoolOptions options = new ProcessPoolOptions { Workers = 1, JsonContext = PoolJsonContext.Default }
            .WithInitializer(ContextOrderTasks.Remember, new ContextOrder(1, "init", ["i"]));

        // In the caller: the pool's codec takes the record's metadata from the context.
        var codec = Assert.IsType<JsonCodec<ContextOrder>>(options.Codecs("options").Get<ContextOrder>());
        Assert.Same(PoolJsonContext.Default, codec.Options.GetTypeInfo(typeof(ContextOrder)).OriginatingResolver);

        await using var pool = new ProcessPool(options);

        // In the worker: the argument, and the initializer's argument, are read with the context too
        // (a worker without it would say DefaultJsonTypeInfoResolver).
        Assert.Equal("7:Ada:a+b read with PoolJsonContext", await pool.SubmitAsync(ContextOrderTasks.Describe, order).WaitAsync(Bounds.Unexpected));
        Assert.Equal("1:init:i read with PoolJsonContext", await pool.SubmitAsync(ContextOrderTasks.Initialized).WaitAsync(Bounds.Unexpected));

        // And back: results written by the worker, read here with the context.
        ContextOrder[] orders = [.. Enumerable.Range(0, 200).Select(i => new ContextOrder(i, "c" + i, ["x" + i]))];
        ContextOrder[] extended = await pool.MapAsync(ContextOrderTasks.Extend, orders).WaitAsync(Bounds.Unexpected);
        Assert.Equal(orders.Length, extended.Length);
        for (int i = 0; i < orders.Length; i++)
        {
            Assert.Equal((i + 1, "c" + i, "PoolJsonContext"), (extended[i].OrderId, extended[i].CustomerName, extended[i].ReadWith));
            Assert.Equal(["x" + i, "worker"], extended[i].LineItems);
        }
    }

    [Fact]
    public void Constructor_JsonContextAWorkerCannotCreate_IsRefused()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(
            () => new ProcessPool(new ProcessPoolOptions { Workers = 1, JsonContext = new ConfiguredResolver(3) }));
        Assert.Equal("options", error.ParamName);
        Assert.Contains(nameof(ConfiguredResolver), error.Message);
        Assert.Contains("public static Default property", error.Message);
    }
}
