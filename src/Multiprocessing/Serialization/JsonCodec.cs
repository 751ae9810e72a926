using System.Runtime.Serialization;
using System.Text.Json;
using Multiprocessing.Payload;

namespace Multiprocessing.Serialization;

/// <summary>
/// Everything without a binary path (records, classes, collections) goes through System.Text.Json,
/// length-prefixed. The first value written is also read back once, so a type that serialises but
/// cannot be rebuilt (no usable constructor, an abstract member type) fails in the caller, at
/// submit time, and not later in the worker.
/// </summary>
internal sealed class JsonCodec<T>(JsonSerializerOptions options) : Codec<T>
{
    // JSON writes a value by its declared type: a derived instance would arrive as its base, what it
    // adds gone. Records and classes are guarded by JsonContractCheck.RefuseSubstitutes (at any depth);
    // this covers a collection type at the top (a List<int> subclass where List<int> is declared).
    private readonly bool _refuseSubstitutes = !typeof(T).IsValueType && !typeof(T).IsSealed && !typeof(T).IsAbstract && !typeof(T).IsInterface
        && options.GetTypeInfo(typeof(T)).PolymorphismOptions is null;

    private int _probed;

    /// <summary>The options it writes and reads with (which metadata, which converters).</summary>
    public JsonSerializerOptions Options => options;

    public override void Write(PayloadWriter writer, T value)
    {
        if (_refuseSubstitutes && value is not null && value.GetType() != typeof(T))
        {
            throw JsonContractCheck.Substituted(value.GetType(), typeof(T));
        }
        int lengthAt = writer.ReserveInt32();
        int start = writer.Position;
        using (var json = new Utf8JsonWriter(writer))
        {
            JsonSerializer.Serialize(json, value, options);
        }
        writer.PatchInt32(lengthAt, writer.Position - start);
        if (_probed == 0 && Interlocked.Exchange(ref _probed, 1) == 0)
        {
            Probe(writer.WrittenSpan[start..]);
        }
    }

    public override T Read(ref PayloadReader reader)
    {
        int length = reader.Read<int>();
        return JsonSerializer.Deserialize<T>(reader.ReadBytes(length), options)!;
    }

    private void Probe(ReadOnlySpan<byte> json)
    {
        try
        {
            JsonSerializer.Deserialize<T>(json, options);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            _probed = 0;
            throw new SerializationException(
                $"Values of type {TypeNames.Display(typeof(T))} can be written as JSON but not read back, so they cannot reach a worker process: {e.Message} " +
                "Give the type a public constructor whose parameters match its properties (a record does), or register an IWorkerSerializer for it.", e);
        }
    }
}
