using System.Runtime.Serialization;
using Multiprocessing.Wire;

namespace Multiprocessing.Worker;

/// <summary>What the caller sees for an error a worker reported.</summary>
internal static class RemoteErrors
{
    /// <summary>
    /// The exception a caller sees for <paramref name="error"/>: the one mapping from what a worker reports to
    /// the public exceptions, used by the pool and by <see cref="WorkerProcess"/> alike, so the same
    /// fault reads the same wherever it happens.
    /// </summary>
    /// <param name="error">The worker's report.</param>
    /// <param name="method">The task method, for messages.</param>
    /// <param name="itemIndex">The item of a map, or null for a single task.</param>
    /// <param name="processId">The worker that reported it.</param>
    /// <param name="maxMessageSize">The limit a result went over (for <see cref="ErrorKind.ResultTooLarge"/>).</param>
    public static Exception ToException(this RemoteError error, string method, long? itemIndex, int processId, long maxMessageSize)
    {
        string where = itemIndex is null ? $"in worker process {processId}" : $"on item {itemIndex} in worker process {processId}";
        return error.Kind switch
        {
            ErrorKind.TaskThrew => new WorkerException($"{method} threw {error.TypeName} {where}: {error.Message}", error.TypeName, error.Message, error.Details, processId, itemIndex),
            ErrorKind.ResultNotSerializable => new SerializationException(
                $"The result of {method} {where} could not be serialised to send back: {error.Message} Return plain data (primitives, arrays, records) or register an IWorkerSerializer.",
                Remote(error, itemIndex, processId)),
            ErrorKind.ResultTooLarge => new SerializationException(
                $"The result of {method}{(itemIndex is null ? "" : $" on item {itemIndex}")} is {error.Size:N0} bytes, over the pool's MaxMessageSize of {maxMessageSize:N0} bytes; return less, or raise MaxMessageSize, or put it in a SharedArray.",
                Remote(error, itemIndex, processId)),
            ErrorKind.ArgumentNotReadable => new SerializationException(
                $"The worker could not read the argument of {method} {where}: {error.Message}",
                Remote(error, itemIndex, processId)),
            ErrorKind.CodecNotCreated => CodecNotCreated(new WorkerStartException(
                $"Worker process {processId} could not create the serializer {method} is sent with: {error.Message} The serializer's type must be in the application the workers run, with a public parameterless constructor that works there.",
                Remote(error, itemIndex, processId))),
            _ => new WorkerException($"The worker could not load {method}: {error.Message}", error.TypeName, error.Message, error.Details, processId, itemIndex),
        };
    }

    /// <summary>
    /// Set in <see cref="Exception.Data"/> of a <see cref="WorkerStartException"/> that fails one method's
    /// calls (its serializer could not be created) while the pool goes on: a cluster node tells it
    /// from its pool's own start failing.
    /// </summary>
    public const string CodecNotCreatedKey = "Multiprocessing.CodecNotCreated";

    private static Exception CodecNotCreated(Exception error)
    {
        error.Data[CodecNotCreatedKey] = true;
        return error;
    }

    private static WorkerException Remote(RemoteError error, long? itemIndex, int processId) =>
        new(error.Message, error.TypeName, error.Message, error.Details, processId, itemIndex);
}
