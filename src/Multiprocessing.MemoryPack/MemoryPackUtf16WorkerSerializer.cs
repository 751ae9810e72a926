using System.Buffers;
using MemoryPack;

namespace Multiprocessing.MemoryPack;

/// <summary>
/// <see cref="MemoryPackWorkerSerializer"/> with strings written as UTF-16
/// (<see cref="MemoryPackSerializerOptions.Utf16"/>): each string is a copy of its characters
/// instead of a transcoding to UTF-8 and back, for records whose strings are a large part of the
/// work; an ASCII string takes twice the bytes.
/// </summary>
/// <remarks>
/// The same types as <see cref="MemoryPackWorkerSerializer"/> (<c>[MemoryPackable]</c>, and arrays
/// and lists of them). Each reads what the other wrote (MemoryPack marks a string's encoding in its
/// header), so processes may mix them; the choice only decides what a process writes. Like every
/// serializer, the worker process creates its own instance from the type, which is why the
/// encoding is a type and not a constructor argument. Measured on the channel benchmark's 7-field
/// record with three short strings (docs/benchmarks/channels-records-memorypack.md).
/// </remarks>
/// <example>
/// <code>
/// using var channel = SharedChannel.CreateBounded&lt;Order&gt;(new SharedChannelOptions(4096) { Serializer = new MemoryPackUtf16WorkerSerializer() });
/// </code>
/// </example>
public sealed class MemoryPackUtf16WorkerSerializer : IWorkerSerializer
{
    /// <summary>Whether <paramref name="type"/> is marked <c>[MemoryPackable]</c>, or is an array or <see cref="List{T}"/> of such a type.</summary>
    /// <param name="type">The declared type of an argument, result or channel item.</param>
    /// <returns><see langword="true"/> when MemoryPack's generated formatter handles it.</returns>
    public bool CanSerialize(Type type) => MemoryPackWorkerSerializer.Accepts(type);

    /// <summary>Writes <paramref name="value"/> in MemoryPack's binary form, strings as UTF-16.</summary>
    /// <typeparam name="T">A type that <see cref="CanSerialize"/> accepted.</typeparam>
    /// <param name="writer">Where the bytes go.</param>
    /// <param name="value">The value.</param>
    public void Serialize<T>(IBufferWriter<byte> writer, T value) => MemoryPackSerializer.Serialize(writer, value, MemoryPackSerializerOptions.Utf16);

    /// <summary>Reads a value written by either MemoryPack serializer.</summary>
    /// <typeparam name="T">The declared type.</typeparam>
    /// <param name="data">The bytes.</param>
    /// <returns>The value.</returns>
    /// <exception cref="MemoryPackSerializationException">The bytes are not a value of <typeparamref name="T"/>.</exception>
    public T Deserialize<T>(ReadOnlySpan<byte> data) => MemoryPackSerializer.Deserialize<T>(data)!;
}
