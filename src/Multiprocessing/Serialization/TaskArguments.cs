using System.Runtime.Serialization;
using Multiprocessing.Payload;

namespace Multiprocessing.Serialization;

/// <summary>
/// Writes a task's argument (or a map's item) into a message, and refuses one that cannot travel:
/// the one place that decides which exception the caller gets and how it reads, for a single
/// task, a map's items and a <see cref="WorkerProcess"/> alike.
/// </summary>
internal static class TaskArguments
{
    /// <summary>Writes <paramref name="value"/>; a value the codec cannot write is refused with <see cref="SerializationException"/>.</summary>
    /// <param name="codec">The argument type's codec.</param>
    /// <param name="writer">The message being built.</param>
    /// <param name="value">The argument.</param>
    /// <param name="what">Names the value in the message: "The argument", "Item 12".</param>
    /// <exception cref="SerializationException">The value cannot be serialised; the message says why and what to do.</exception>
    public static void Write<T>(Codec<T> codec, PayloadWriter writer, T value, string what)
    {
        try
        {
            codec.Write(writer, value);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw e as SerializationException ?? new SerializationException(
                $"{what} of type {TypeNames.Display(typeof(T))} cannot be sent to a worker process: {e.Message} Pass plain data (primitives, strings, arrays, records) or register an IWorkerSerializer.", e);
        }
    }

    /// <summary>
    /// Writes one task's argument and refuses it at the call when it cannot be sent
    /// (<see cref="SerializationException"/>) or when the message it makes is over
    /// <paramref name="maxMessageSize"/> (<see cref="ArgumentException"/> naming <paramref name="parameterName"/>).
    /// </summary>
    public static void WriteWithin<T>(Codec<T> codec, PayloadWriter writer, T value, long maxMessageSize, string parameterName)
    {
        Write(codec, writer, value, "The argument");
        if (CheckSize(writer.Position, maxMessageSize, "The argument", parameterName) is { } tooLarge)
        {
            throw tooLarge;
        }
    }

    /// <summary>The refusal of a message of <paramref name="bytes"/> over <paramref name="maxMessageSize"/>, or null if it fits.</summary>
    /// <param name="bytes">The message's size.</param>
    /// <param name="maxMessageSize">The pool's limit.</param>
    /// <param name="what">Names the value in the message: "The argument", "Item 12".</param>
    /// <param name="parameterName">The parameter that carried it, when the refusal is thrown at the call.</param>
    public static ArgumentException? CheckSize(long bytes, long maxMessageSize, string what, string? parameterName = null) =>
        bytes <= maxMessageSize ? null : new ArgumentException(
            $"{what} serialises to a message of {bytes:N0} bytes, above the pool's MaxMessageSize of {maxMessageSize:N0}. Raise MaxMessageSize, or keep large data out of the message (a file path, a shared memory segment).",
            parameterName);
}
