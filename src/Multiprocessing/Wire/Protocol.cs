using Multiprocessing.Payload;
using Multiprocessing.Serialization;

namespace Multiprocessing.Wire;

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

    /// <summary>Results of a unit so far, when the next would push its Result frame past the pool's MaxMessageSize; the unit's Result frame follows.</summary>
    PartialResult = 15,

    /// <summary>The worker leaves on its own after a stop signal its parent did not act on; it exits normally once its results are sent.</summary>
    Leaving = 16,

    /// <summary>The pool's worker-exit hook threw or did not return in time; the worker exits after it.</summary>
    WorkerExitFailed = 17,
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

    /// <summary>One result does not fit in a frame of the pool's MaxMessageSize; the error carries its size.</summary>
    ResultTooLarge = 5,

    /// <summary>The serializer or JSON context a method's Register frame names could not be created in the worker.</summary>
    CodecNotCreated = 6,
}

internal static class Protocol
{
    /// <summary>Bytes before a frame's body: the length and the type.</summary>
    public const int HeaderSize = 5;

    /// <summary>Bytes before a Run frame's items: header, sequence number, method id, item count.</summary>
    public const int RunHeaderSize = HeaderSize + sizeof(long) + sizeof(int) + sizeof(int);

    /// <summary>Length of the random token a worker proves itself with.</summary>
    public const int TokenSize = 32;

    /// <summary>
    /// The environment variables through which a worker learns where its parent listens and the token
    /// it proves itself with (in its Hello frame): the environment, not the command line, so other
    /// users cannot read them.
    /// </summary>
    public const string SocketVariable = "MP_WORKER_SOCKET";

    /// <inheritdoc cref="SocketVariable"/>
    public const string TokenVariable = "MP_WORKER_TOKEN";

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

    /// <summary>
    /// Set in a Run frame's item count when the frame carries a trace context: two strings, the W3C
    /// <c>traceparent</c> and <c>tracestate</c>, between the count and the items. An untraced frame
    /// has neither the flag nor the strings, so it costs what it did before tracing.
    /// </summary>
    public const int TraceContextFlag = int.MinValue;

    /// <summary>
    /// Starts a Run frame whose sequence number and method id are filled in when it is sent, with the
    /// trace context of <paramref name="trace"/> when there is one; true if the context was written,
    /// to pass to <see cref="EndRun"/>.
    /// </summary>
    public static bool BeginRun(PayloadWriter writer, System.Diagnostics.Activity? trace = null)
    {
        BeginFrame(writer, FrameType.Run);
        writer.Write(0L);
        writer.Write(0);
        writer.Write(0);
        // Activity.Id is the traceparent in the W3C format, and is formatted once per activity.
        if (trace is { IdFormat: System.Diagnostics.ActivityIdFormat.W3C, Id: { } traceParent })
        {
            writer.WriteString(traceParent);
            writer.WriteString(trace.TraceStateString);
            return true;
        }
        return false;
    }

    /// <summary>Completes a Run frame begun by <see cref="BeginRun"/> at offset 0 of <paramref name="writer"/>.</summary>
    public static void EndRun(PayloadWriter writer, int count, bool traced = false)
    {
        EndFrame(writer, 0);
        writer.PatchInt32(HeaderSize + sizeof(long) + sizeof(int), traced ? count | TraceContextFlag : count);
    }

    /// <summary>Stamps the per-worker sequence number and method id into a Run frame before it is sent.</summary>
    public static void StampRun(byte[] frame, long sequence, int methodId)
    {
        System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref frame[HeaderSize], sequence);
        System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref frame[HeaderSize + sizeof(long)], methodId);
    }

    /// <summary>
    /// Writes a user's exception as an error record. Every member of the exception is user code that
    /// may throw (a Message or ToString override): each read is guarded and replaced by a note of what
    /// it threw, since an exception escaping here would end the worker and turn the task's error into
    /// a crash. Each text is cut to a share of <paramref name="maxFrame"/>, so the record fits in a
    /// frame. <paramref name="size"/> is the result's size, for <see cref="ErrorKind.ResultTooLarge"/>.
    /// </summary>
    public static void WriteError(PayloadWriter writer, ErrorKind kind, int itemIndex, Exception error, long maxFrame = int.MaxValue, long size = 0)
    {
        // Three texts of up to 3 UTF-8 bytes a character, with room for the headers around them.
        int maxChars = (int)Math.Clamp((maxFrame - 256) / 9, 64, 1 << 26);
        writer.Write((byte)kind);
        writer.Write(itemIndex);
        writer.WriteString(Cut(error.GetType().FullName ?? error.GetType().Name, maxChars));
        writer.WriteString(Cut(Guarded(error, "Message", static e => e.Message), maxChars));
        writer.WriteString(Cut(Details(error), maxChars));
        if (kind == ErrorKind.ResultTooLarge)
        {
            writer.Write(size);
        }
    }

    /// <summary>The exception as text: its ToString, or, when that throws, what of it can be read.</summary>
    private static string Details(Exception error)
    {
        try
        {
            return error.ToString();
        }
        catch (Exception thrown)
        {
            string text = $"{error.GetType().FullName}: {Guarded(error, "Message", static e => e.Message)} {Threw("ToString", thrown)}";
            string trace = Guarded(error, "StackTrace", static e => e.StackTrace);
            Exception? inner = null;
            try
            {
                inner = error.InnerException;
            }
            catch (Exception)
            {
                // InnerException is not virtual; a subclass can still hide it behind a throwing member.
            }
            return text
                + (inner is null ? "" : $" ---> {inner.GetType().FullName}: {Guarded(inner, "Message", static e => e.Message)}")
                + (trace.Length == 0 ? "" : Environment.NewLine + trace);
        }
    }

    private static string Guarded(Exception error, string member, Func<Exception, string?> read)
    {
        try
        {
            return read(error) ?? "";
        }
        catch (Exception thrown)
        {
            return Threw(member, thrown);
        }
    }

    private static string Threw(string member, Exception thrown)
    {
        string message;
        try
        {
            message = thrown.Message;
        }
        catch (Exception)
        {
            message = "(its own Message threw too)";
        }
        return $"<{member} threw {thrown.GetType().FullName}: {message}>";
    }

    private static string Cut(string text, int maxChars) =>
        text.Length <= maxChars ? text : string.Concat(text.AsSpan(0, maxChars), $"... ({text.Length - maxChars:N0} characters cut)");
}

/// <summary>
/// The fixed part of a Result or PartialResult frame: which unit, how it ended, how long it ran, the
/// worker's private memory, and how many results the frame holds (a unit's results may be spread
/// over PartialResult frames before its Result frame).
/// </summary>
internal readonly record struct ResultHeader(long Sequence, ResultStatus Status, long ElapsedTicks, long PrivateBytes, int Count)
{
    public static ResultHeader Read(ref PayloadReader reader) =>
        new(reader.Read<long>(), (ResultStatus)reader.Read<byte>(), reader.Read<long>(), reader.Read<long>(), reader.Read<int>());

    public void Write(PayloadWriter writer)
    {
        writer.Write(Sequence);
        writer.Write((byte)Status);
        writer.Write(ElapsedTicks);
        writer.Write(PrivateBytes);
        writer.Write(Count);
    }

    /// <summary>Overwrites a header that <see cref="Write"/> put at <paramref name="offset"/>, once the unit's outcome is known.</summary>
    public void WriteAt(byte[] buffer, int offset)
    {
        System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref buffer[offset], Sequence);
        buffer[offset + sizeof(long)] = (byte)Status;
        System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref buffer[offset + sizeof(long) + 1], ElapsedTicks);
        System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref buffer[offset + sizeof(long) + 1 + sizeof(long)], PrivateBytes);
        System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref buffer[offset + sizeof(long) + 1 + sizeof(long) + sizeof(long)], Count);
    }
}
