using System.Buffers;
using System.Collections.Concurrent;
using MemoryPack;

namespace Multiprocessing.MemoryPack;

/// <summary>
/// An <see cref="IWorkerSerializer"/> that sends types marked <c>[MemoryPackable]</c> (and arrays
/// and lists of them) as MemoryPack's binary form instead of System.Text.Json: records with many
/// fields cross a process boundary several times faster, with no reflection at run time.
/// </summary>
/// <remarks>
/// <para>
/// Give it to a pool (<see cref="ProcessPoolOptions.Serializer"/>) or a channel; every other type keeps the
/// library's own paths (the byte copy of unmanaged values, strings, System.Text.Json). The worker
/// process creates its own instance, so this type has a public parameterless constructor and no state.
/// </para>
/// <para>
/// MemoryPack serialises what the type's generated formatter knows: the members MemoryPack
/// includes (public fields and properties with a setter or a constructor parameter, by default).
/// A member it leaves out does not travel; mark it <c>[MemoryPackInclude]</c> or make it part of
/// the constructor. MemoryPack checks this at compile time through its source generator.
/// </para>
/// <para>
/// Strings are written as UTF-8 (MemoryPack's default: compact, but transcoded on both ends).
/// <see cref="MemoryPackUtf16WorkerSerializer"/> writes them as UTF-16 instead, a plain copy: larger
/// messages, less CPU per string. Either reads what the other wrote.
/// </para>
/// </remarks>
/// <example>
/// <code>
/// [MemoryPackable]
/// public partial record Order(long Id, string Customer, decimal Total, DateTime Placed);
///
/// await using var pool = new ProcessPool(new ProcessPoolOptions { Serializer = new MemoryPackWorkerSerializer() });
/// Order[] priced = await pool.MapAsync(Price, orders);
/// </code>
/// </example>
public sealed class MemoryPackWorkerSerializer : IWorkerSerializer
{
    private static readonly ConcurrentDictionary<Type, bool> s_accepted = new();

    /// <summary>Whether <paramref name="type"/> is marked <c>[MemoryPackable]</c>, or is an array or <see cref="List{T}"/> of such a type.</summary>
    /// <param name="type">The declared type of an argument, result or channel item.</param>
    /// <returns><see langword="true"/> when MemoryPack's generated formatter handles it.</returns>
    public bool CanSerialize(Type type) => Accepts(type);

    /// <summary>The type test both MemoryPack serializers share, cached per type.</summary>
    internal static bool Accepts(Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        return s_accepted.GetOrAdd(type, static t => IsPackable(t));
    }

    /// <summary>Writes <paramref name="value"/> in MemoryPack's binary form.</summary>
    /// <typeparam name="T">A type that <see cref="CanSerialize"/> accepted.</typeparam>
    /// <param name="writer">Where the bytes go.</param>
    /// <param name="value">The value.</param>
    public void Serialize<T>(IBufferWriter<byte> writer, T value) => MemoryPackSerializer.Serialize(writer, value);

    /// <summary>Reads a value written by <see cref="Serialize{T}"/>.</summary>
    /// <typeparam name="T">The declared type.</typeparam>
    /// <param name="data">The bytes <see cref="Serialize{T}"/> wrote.</param>
    /// <returns>The value.</returns>
    /// <exception cref="MemoryPackSerializationException">The bytes are not a value of <typeparamref name="T"/>.</exception>
    public T Deserialize<T>(ReadOnlySpan<byte> data) => MemoryPackSerializer.Deserialize<T>(data)!;

    private static bool IsPackable(Type type)
    {
        if (type.IsArray && type.GetArrayRank() == 1)
        {
            return IsPackable(type.GetElementType()!);
        }
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            return IsPackable(type.GetGenericArguments()[0]);
        }
        return type.IsDefined(typeof(MemoryPackableAttribute), inherit: false);
    }
}
