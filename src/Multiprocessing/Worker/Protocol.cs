using Multiprocessing.Serialization;

namespace Multiprocessing.Worker;

/// <summary>
/// The control channel's frames: <c>[int32 length][byte type][body]</c>, where length counts the
/// type byte and the body. Parent and worker are built from the same assembly, so the layout needs
/// no versioning; it only has to reject what is malformed.
/// </summary>
internal enum FrameType : byte
{
    // Parent to worker.
    Init = 1,
    Register = 2,
    Run = 3,
    Cancel = 4,
    Shutdown = 5,

    // Worker to parent.
    Hello = 10,
    Ready = 11,
    InitFailed = 12,
    Result = 13,
    Fatal = 14,
}

internal enum ResultStatus : byte
{
    Ok = 0,
    Error = 1,
    Cancelled = 2,
}

internal enum ErrorKind : byte
{
    TaskThrew = 1,
    ArgumentNotReadable = 2,
    ResultNotSerializable = 3,
    MethodNotResolved = 4,
}

internal static class Protocol
{
    /// <summary>Bytes before a frame's body: the length and the type.</summary>
    public const int HeaderSize = 5;

    /// <summary>Bytes before a Run frame's items: header, sequence number, method id, item count.</summary>
    public const int RunHeaderSize = HeaderSize + sizeof(long) + sizeof(int) + sizeof(int);

    /// <summary>Length of the random token a worker proves itself with.</summary>
    public const int TokenSize = 32;

    /// <summary>Starts a frame; returns where it starts, for <see cref="EndFrame"/>.</summary>
    public static int BeginFrame(PayloadWriter writer, FrameType type)
    {
        int start = writer.Position;
        writer.Write(0);
        writer.Write((byte)type);
        return start;
    }

    public static void EndFrame(PayloadWriter writer, int start) => writer.PatchInt32(start, writer.Position - start - sizeof(int));

    public static byte[] Frame(FrameType type, Action<PayloadWriter>? body = null)
    {
        var writer = new PayloadWriter(64);
        int start = BeginFrame(writer, type);
        body?.Invoke(writer);
        EndFrame(writer, start);
        return writer.ToArray();
    }

    /// <summary>Starts a Run frame whose sequence number and method id are filled in when it is sent.</summary>
    public static void BeginRun(PayloadWriter writer)
    {
        BeginFrame(writer, FrameType.Run);
        writer.Write(0L);
        writer.Write(0);
        writer.Write(0);
    }

    /// <summary>Completes a Run frame begun by <see cref="BeginRun"/> at offset 0 of <paramref name="writer"/>.</summary>
    public static void EndRun(PayloadWriter writer, int count)
    {
        EndFrame(writer, 0);
        writer.PatchInt32(HeaderSize + sizeof(long) + sizeof(int), count);
    }

    /// <summary>Stamps the per-worker sequence number and method id into a Run frame before it is sent.</summary>
    public static void StampRun(byte[] frame, long sequence, int methodId)
    {
        System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref frame[HeaderSize], sequence);
        System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref frame[HeaderSize + sizeof(long)], methodId);
    }

    public static void WriteError(PayloadWriter writer, ErrorKind kind, int itemIndex, Exception error)
    {
        writer.Write((byte)kind);
        writer.Write(itemIndex);
        writer.WriteString(error.GetType().FullName);
        writer.WriteString(error.Message);
        writer.WriteString(error.ToString());
    }
}

/// <summary>An error reported by a worker, as read from a frame.</summary>
internal readonly record struct RemoteError(ErrorKind Kind, int ItemIndex, string TypeName, string Message, string Details)
{
    public static RemoteError Read(ref PayloadReader reader) => new(
        (ErrorKind)reader.Read<byte>(),
        reader.Read<int>(),
        reader.ReadString() ?? "System.Exception",
        reader.ReadString() ?? "",
        reader.ReadString() ?? "");
}

/// <summary>The fixed part of a Result frame: which unit, how it ended, how long it ran, the worker's private memory.</summary>
internal readonly record struct ResultHeader(long Sequence, ResultStatus Status, long ElapsedTicks, long PrivateBytes)
{
    public static ResultHeader Read(ref PayloadReader reader) =>
        new(reader.Read<long>(), (ResultStatus)reader.Read<byte>(), reader.Read<long>(), reader.Read<long>());

    public void Write(PayloadWriter writer)
    {
        writer.Write(Sequence);
        writer.Write((byte)Status);
        writer.Write(ElapsedTicks);
        writer.Write(PrivateBytes);
    }

    /// <summary>Overwrites a header that <see cref="Write"/> put at <paramref name="offset"/>, once the unit's outcome is known.</summary>
    public void WriteAt(byte[] buffer, int offset)
    {
        System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref buffer[offset], Sequence);
        buffer[offset + sizeof(long)] = (byte)Status;
        System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref buffer[offset + sizeof(long) + 1], ElapsedTicks);
        System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref buffer[offset + sizeof(long) + 1 + sizeof(long)], PrivateBytes);
    }
}
