using System.Text.Json.Serialization.Metadata;
using System.Threading.Channels;
using Multiprocessing.Serialization;

namespace Multiprocessing;

/// <summary>How a <see cref="SharedChannel{T}"/> is laid out and behaves when full.</summary>
/// <param name="capacity">The most messages it holds at once.</param>
public sealed record SharedChannelOptions(int capacity)
{
    /// <summary>The default <see cref="MaxMessageSize"/>: 64 KiB.</summary>
    public const int DefaultMaxMessageSize = 64 * 1024;

    /// <summary>The most messages the channel holds at once; a writer waits (or drops, see <see cref="FullMode"/>) beyond it.</summary>
    public int Capacity { get; init; } = capacity;

    /// <summary>
    /// What a write does when the channel is full: <see cref="BoundedChannelFullMode.Wait"/> (the default),
    /// <see cref="BoundedChannelFullMode.DropOldest"/> (discard the oldest message to make room) or
    /// <see cref="BoundedChannelFullMode.DropWrite"/> (discard the message being written).
    /// <see cref="BoundedChannelFullMode.DropNewest"/> is not supported: with writers in several
    /// processes there is no newest message that can be taken back safely.
    /// </summary>
    public BoundedChannelFullMode FullMode { get; init; } = BoundedChannelFullMode.Wait;

    /// <summary>
    /// The largest serialised message, in bytes. Each slot reserves this much address space, but the
    /// memory is sparse: a slot costs only the pages its messages touched. Larger messages are refused
    /// with an <see cref="ArgumentException"/>, never truncated.
    /// </summary>
    public int MaxMessageSize { get; init; } = DefaultMaxMessageSize;

    /// <summary>A hint that one reader at a time reads (accepted for API parity with System.Threading.Channels; the channel is safe either way).</summary>
    public bool SingleReader { get; init; }

    /// <summary>A hint that one writer at a time writes (accepted for API parity; the channel is safe either way).</summary>
    public bool SingleWriter { get; init; }

    /// <summary>
    /// A serializer for the items, used for every item type it accepts (<see cref="IWorkerSerializer.CanSerialize"/>),
    /// before the built-in byte copy and System.Text.Json; for example <c>MemoryPackWorkerSerializer</c>
    /// from the Multiprocessing.MemoryPack package, several times faster than JSON for records.
    /// </summary>
    /// <value>The default is <see langword="null"/>: the built-in serializers (System.Text.Json for records and classes).</value>
    /// <remarks>
    /// The channel's descriptor carries the serializer's type name, and every process the channel
    /// (or pipe end) arrives in creates its own instance from the type's public parameterless
    /// constructor, so the type must have one and hold no configuration of its own. A process that
    /// cannot create it fails when the channel arrives, with a <see cref="System.Runtime.Serialization.SerializationException"/>.
    /// </remarks>
    public IWorkerSerializer? Serializer { get; init; }

    /// <summary>
    /// JSON metadata for item types that travel as JSON: typically a System.Text.Json source-generated
    /// <c>JsonSerializerContext</c>, which spares the reflection the default path does per type.
    /// Types the context does not cover keep the reflection-based metadata.
    /// </summary>
    /// <value>The default is <see langword="null"/>: metadata by reflection.</value>
    /// <remarks>
    /// The library's own converters (exact strings, <c>BigInteger</c>, shared objects inside records)
    /// and its checks that a type round-trips exactly still apply: the context supplies metadata
    /// only, used with the library's options, so what the context's own options say
    /// (<c>[JsonSourceGenerationOptions]</c>: a naming policy, converters) does not apply, while what is
    /// on the types and members (<c>[JsonPropertyName]</c>, <c>[JsonConverter]</c>) does. Every process the
    /// channel arrives in creates the same context from its type's public static <c>Default</c>
    /// property (which the source generator writes) or its public parameterless constructor.
    /// </remarks>
    public IJsonTypeInfoResolver? JsonContext { get; init; }

    internal CodecProvider Codecs() => CodecProvider.For(Serializer, JsonContext);

    internal void Validate()
    {
        if (Serializer is not null)
        {
            SerializerTypes.RequireCreatable(Serializer, nameof(Serializer));
        }
        if (JsonContext is not null)
        {
            SerializerTypes.RequireCreatable(JsonContext, nameof(JsonContext));
        }
        if (Capacity is < 1 or > 1 << 24)
        {
            throw new ArgumentOutOfRangeException(nameof(Capacity), Capacity, "The capacity must be from 1 to 16,777,216 messages.");
        }
        if (MaxMessageSize is < 1 or > 1 << 30)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxMessageSize), MaxMessageSize, "The maximum message size must be from 1 byte to 1 GiB.");
        }
        if (FullMode == BoundedChannelFullMode.DropNewest)
        {
            throw new NotSupportedException(
                "BoundedChannelFullMode.DropNewest is not supported by a shared channel: with writers in several processes no message can be taken back safely. " +
                "Use DropOldest, DropWrite or Wait.");
        }
        if (!Enum.IsDefined(FullMode))
        {
            throw new ArgumentOutOfRangeException(nameof(FullMode), FullMode, "Not a BoundedChannelFullMode.");
        }
    }
}
