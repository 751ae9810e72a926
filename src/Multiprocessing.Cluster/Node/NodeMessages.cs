using System.Runtime.Serialization;
using Multiprocessing.Pool;

namespace Multiprocessing.Cluster.Node;

/// <summary>
/// A chunk as it travels from a client to a node: the caller's encoded method and Run frame,
/// untouched, so the node never needs the caller's types.
/// </summary>
[GenerateSerializer, Immutable, Alias("mp.ChunkRequest")]
internal sealed class ChunkRequest
{
    /// <summary>The method's description: what follows the id in the caller's Register frame.</summary>
    [Id(0)] public required byte[] Method { get; init; }

    [Id(1)] public required string MethodName { get; init; }

    /// <summary>The complete Run frame, exactly its length.</summary>
    [Id(2)] public required byte[] Frame { get; init; }

    [Id(3)] public int Count { get; init; }

    /// <summary>Where the chunk's items start in the caller's input, so a node's errors name the caller's item; -1 for a single task.</summary>
    [Id(4)] public long FirstItem { get; init; }

    /// <summary>The client it came from: a node cancels a client's work when that client is gone.</summary>
    [Id(5)] public Guid Client { get; init; }

    /// <summary>Shared arrays the chunk's descriptors name, which must be on the node before it runs.</summary>
    [Id(6)] public SharedDataRef[]? SharedData { get; init; }

    /// <summary>The client's number for this call, which the node lists in <see cref="NodeStatus.RunningCalls"/> while it runs the chunk.</summary>
    [Id(7)] public long Call { get; init; }
}

/// <summary>How a chunk ended on a node.</summary>
[GenerateSerializer, Immutable, Alias("mp.ChunkOutcome")]
internal sealed class ChunkOutcome
{
    /// <summary>The results as the worker wrote them, or null if the chunk failed.</summary>
    [Id(0)] public byte[]? Results { get; init; }

    [Id(1)] public long ElapsedTicks { get; init; }

    [Id(2)] public NodeFault? Fault { get; init; }
}

/// <summary>What a node's pool reported for a failed chunk, enough to rebuild the same exception in the client.</summary>
[GenerateSerializer, Immutable, Alias("mp.NodeFault")]
internal sealed class NodeFault
{
    [Id(0)] public NodeFaultKind Kind { get; init; }
    [Id(1)] public string Message { get; init; } = "";
    [Id(2)] public string? RemoteType { get; init; }
    [Id(3)] public string? RemoteMessage { get; init; }
    [Id(4)] public string? RemoteStackTrace { get; init; }
    [Id(5)] public int ProcessId { get; init; }
    [Id(6)] public long? ItemIndex { get; init; }
    [Id(7)] public int? ExitCode { get; init; }

    /// <summary>Reads the exception a node's pool gave for a chunk.</summary>
    public static NodeFault From(Exception error) => error switch
    {
        WorkerCrashedException crashed => new() { Kind = NodeFaultKind.WorkerCrashed, Message = crashed.Message, ProcessId = crashed.ProcessId, ItemIndex = crashed.ItemIndex, ExitCode = crashed.ExitCode },
        WorkerException worker => new() { Kind = NodeFaultKind.WorkerException, Message = worker.Message, RemoteType = worker.RemoteTypeName, RemoteMessage = worker.RemoteMessage, RemoteStackTrace = worker.RemoteStackTrace, ProcessId = worker.ProcessId, ItemIndex = worker.ItemIndex },
        SerializationException serialization => new()
        {
            Kind = NodeFaultKind.Serialization, Message = serialization.Message,
            RemoteType = (serialization.InnerException as WorkerException)?.RemoteTypeName, RemoteMessage = (serialization.InnerException as WorkerException)?.RemoteMessage,
            RemoteStackTrace = (serialization.InnerException as WorkerException)?.RemoteStackTrace, ProcessId = (serialization.InnerException as WorkerException)?.ProcessId ?? 0,
            ItemIndex = (serialization.InnerException as WorkerException)?.ItemIndex,
        },
        TimeoutException timeout => new() { Kind = NodeFaultKind.Timeout, Message = timeout.Message },
        OperationCanceledException cancelled => new() { Kind = NodeFaultKind.Cancelled, Message = cancelled.Message },
        // The serializer a client's method names cannot be created in this node's workers: that
        // client's calls fail, as on a local pool, and the node goes on.
        WorkerStartException { InnerException: WorkerException remote } start when start.Data.Contains(Multiprocessing.Worker.RemoteErrors.CodecNotCreatedKey) => new()
        {
            Kind = NodeFaultKind.WorkerStart, Message = start.Message,
            RemoteType = remote.RemoteTypeName, RemoteMessage = remote.RemoteMessage, RemoteStackTrace = remote.RemoteStackTrace, ProcessId = remote.ProcessId, ItemIndex = remote.ItemIndex,
        },
        ObjectDisposedException or WorkerStartException => new() { Kind = NodeFaultKind.NodeStopping, Message = error.Message },
        _ => new() { Kind = NodeFaultKind.Other, Message = $"{error.GetType().FullName}: {error.Message}" },
    };

    /// <summary>The exception a caller of a local pool would have seen, with the node named.</summary>
    public Exception ToException(string node)
    {
        string message = $"{Message} (on node {node})";
        return Kind switch
        {
            NodeFaultKind.WorkerCrashed => new WorkerCrashedException(message, ProcessId, ExitCode, ItemIndex),
            NodeFaultKind.WorkerException => new WorkerException(message, RemoteType ?? "System.Exception", RemoteMessage ?? "", RemoteStackTrace ?? "", ProcessId, ItemIndex),
            NodeFaultKind.Serialization => new SerializationException(message,
                RemoteType is null ? null : new WorkerException(RemoteMessage ?? "", RemoteType, RemoteMessage ?? "", RemoteStackTrace ?? "", ProcessId, ItemIndex)),
            NodeFaultKind.WorkerStart => new WorkerStartException(message, new WorkerException(RemoteMessage ?? "", RemoteType ?? "System.Exception", RemoteMessage ?? "", RemoteStackTrace ?? "", ProcessId, ItemIndex)),
            NodeFaultKind.Timeout => new TimeoutException(message),
            NodeFaultKind.Cancelled => new OperationCanceledException(message),
            NodeFaultKind.NodeStopping or NodeFaultKind.SharedDataMissing => new NodeLostException(message),
            _ => new InvalidOperationException(message),
        };
    }
}

internal enum NodeFaultKind
{
    Other,
    WorkerException,
    WorkerCrashed,
    Serialization,
    Timeout,
    Cancelled,

    /// <summary>The node's pool is stopping or could not start workers: the chunk never ran and may run elsewhere.</summary>
    NodeStopping,

    /// <summary>
    /// The node no longer holds a shared array the chunk reads (it dropped the client's copies after
    /// not hearing from it): the client counts the node as lost, and meets it anew, sending again.
    /// </summary>
    SharedDataMissing,

    /// <summary>The node's workers could not create the serializer the client's method names: the client's call fails with <see cref="WorkerStartException"/>; the node is fine.</summary>
    WorkerStart,
}

/// <summary>A node could not run a chunk because it is leaving; the client runs it elsewhere.</summary>
internal sealed class NodeLostException(string message) : Exception(message);

/// <summary>A node's answer to a status call.</summary>
[GenerateSerializer, Immutable, Alias("mp.NodeStatus")]
internal sealed class NodeStatus
{
    [Id(0)] public string Name { get; init; } = "";
    [Id(1)] public int Workers { get; init; }
    [Id(2)] public int BusyWorkers { get; init; }

    /// <summary>Proportional set size of the node process and its workers, or -1 when not asked for.</summary>
    [Id(3)] public long MemoryBytes { get; init; } = -1;

    [Id(4)] public int ProcessId { get; init; }
    [Id(5)] public long QueuedItems { get; init; }

    /// <summary>Shared arrays copied to this node since it started (each copy counted once, when its checksum matched).</summary>
    [Id(6)] public long SharedDataTransfers { get; init; }

    /// <summary>Bytes of shared arrays this node holds for its clients now.</summary>
    [Id(7)] public long SharedDataBytes { get; init; }

    /// <summary>
    /// The asking client's calls (<see cref="ChunkRequest.Call"/>) this node is running now. A call
    /// the client still waits for that stays missing here was lost on its way (through a gateway that
    /// died): the client sends it again instead of waiting out Orleans' response timeout.
    /// </summary>
    [Id(8)] public long[] RunningCalls { get; init; } = [];
}

/// <summary>
/// Names a read-only shared array a chunk reads: the client's identity for it, its size, and the
/// descriptor the client wrote into the chunk's frame, which the node replaces with its own copy's.
/// </summary>
[GenerateSerializer, Immutable, Alias("mp.SharedDataRef")]
internal sealed class SharedDataRef
{
    [Id(0)] public Guid Id { get; init; }
    [Id(1)] public long Length { get; init; }

    /// <summary>The client's segment descriptor, exactly as its codec wrote it (a read-only SegmentDescriptor).</summary>
    [Id(2)] public required byte[] ClientDescriptor { get; init; }
}
