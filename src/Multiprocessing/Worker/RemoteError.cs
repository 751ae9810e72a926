using System.Runtime.Serialization;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;

namespace Multiprocessing.Worker;

/// <summary>An error reported by a worker, as read from a frame; <c>Size</c> is the result's size for <see cref="ErrorKind.ResultTooLarge"/>.</summary>
internal readonly record struct RemoteError(ErrorKind Kind, int ItemIndex, string TypeName, string Message, string Details, long Size = 0)
{
    /// <summary>
    /// The exception a caller sees for this error: the one mapping from what a worker reports to
    /// the public exceptions, used by the pool and by <see cref="WorkerProcess"/> alike, so the same
    /// fault reads the same wherever it happens.
    /// </summary>
    /// <param name="method">The task method, for messages.</param>
    /// <param name="itemIndex">The item of a map, or null for a single task.</param>
    /// <param name="processId">The worker that reported it.</param>
    /// <param name="maxMessageSize">The limit a result went over (for <see cref="ErrorKind.ResultTooLarge"/>).</param>
    public Exception ToException(string method, long? itemIndex, int processId, long maxMessageSize)
    {
        string where = itemIndex is null ? $"in worker process {processId}" : $"on item {itemIndex} in worker process {processId}";
        return Kind switch
        {
            ErrorKind.TaskThrew => new WorkerException($"{method} threw {TypeName} {where}: {Message}", TypeName, Message, Details, processId, itemIndex),
            ErrorKind.ResultNotSerializable => new SerializationException(
                $"The result of {method} {where} could not be serialised to send back: {Message} Return plain data (primitives, arrays, records) or register an IWorkerSerializer.",
                Remote(itemIndex, processId)),
            ErrorKind.ResultTooLarge => new SerializationException(
                $"The result of {method}{(itemIndex is null ? "" : $" on item {itemIndex}")} is {Size:N0} bytes, over the pool's MaxMessageSize of {maxMessageSize:N0} bytes; return less, or raise MaxMessageSize, or put it in a SharedArray.",
                Remote(itemIndex, processId)),
            ErrorKind.ArgumentNotReadable => new SerializationException(
                $"The worker could not read the argument of {method} {where}: {Message}",
                Remote(itemIndex, processId)),
            _ => new WorkerException($"The worker could not load {method}: {Message}", TypeName, Message, Details, processId, itemIndex),
        };
    }

    private WorkerException Remote(long? itemIndex, int processId) => new(Message, TypeName, Message, Details, processId, itemIndex);

    public static RemoteError Read(ref PayloadReader reader)
    {
        var kind = (ErrorKind)reader.Read<byte>();
        int item = reader.Read<int>();
        string type = reader.ReadString() ?? "System.Exception";
        string message = reader.ReadString() ?? "";
        string details = reader.ReadString() ?? "";
        return new(kind, item, type, message, details, kind == ErrorKind.ResultTooLarge ? reader.Read<long>() : 0);
    }
}
