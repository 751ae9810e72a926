using System.Buffers;

namespace Multiprocessing;

/// <summary>
/// Brings your own serialisation for arguments and results that travel between the parent
/// and worker processes (for example Protocol Buffers messages).
/// </summary>
/// <remarks>
/// The library asks <see cref="CanSerialize"/> once per type and uses this serializer for every type
/// it accepts, before its own binary path and before System.Text.Json. The worker process creates
/// its own instance from the type's public parameterless constructor, so the type must have one
/// and must be stateless or configured from code, not from constructor arguments.
/// </remarks>
public interface IWorkerSerializer
{
    /// <summary>Whether this serializer handles values of <paramref name="type"/>.</summary>
    /// <param name="type">The declared type of an argument or result.</param>
    /// <returns><see langword="true"/> to take the type; <see langword="false"/> to leave it to the built-in serializers.</returns>
    bool CanSerialize(Type type);

    /// <summary>Writes <paramref name="value"/> into <paramref name="writer"/>.</summary>
    /// <typeparam name="T">The declared type, one that <see cref="CanSerialize"/> accepted.</typeparam>
    /// <param name="writer">Where the bytes go.</param>
    /// <param name="value">The value to write.</param>
    void Serialize<T>(IBufferWriter<byte> writer, T value);

    /// <summary>Reads back a value written by <see cref="Serialize{T}"/>.</summary>
    /// <typeparam name="T">The declared type.</typeparam>
    /// <param name="data">Exactly the bytes that <see cref="Serialize{T}"/> wrote.</param>
    /// <returns>The value.</returns>
    T Deserialize<T>(ReadOnlySpan<byte> data);
}
