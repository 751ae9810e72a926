using Multiprocessing.Payload;
using Multiprocessing.Wire;

namespace Multiprocessing.WorkerRuntime;

/// <summary>What the worker's queue holds: a unit to run (a Run frame), or the end (a Shutdown frame).</summary>
internal sealed class Command(long sequence, int methodId, int count, byte[] items, int itemsLength)
{
    public long Sequence { get; } = sequence;
    public int MethodId { get; } = methodId;
    public int Count { get; } = count;
    public byte[] Items { get; } = items;
    public int ItemsLength { get; } = itemsLength;
    /// <summary>The caller's W3C trace context, when the Run frame carried one.</summary>
    public string? TraceParent { get; init; }
    public string? TraceState { get; init; }
    public CancellationTokenSource? Cancellation { get; set; }
    public int ExitCode { get; init; } = -1;
    public bool IsShutdown => ExitCode >= 0;
    /// <summary>A WorkerProcess's end: exit as a .NET Main does, after the foreground threads the method started.</summary>
    public bool WaitForThreads { get; init; }

    /// <summary>Reads a Run frame's body; its items are copied, since the frame's buffer is reused.</summary>
    /// <exception cref="InvalidDataException">The item count is negative.</exception>
    public static Command ReadRun(ref PayloadReader reader)
    {
        long sequence = reader.Read<long>();
        int methodId = reader.Read<int>();
        int count = reader.Read<int>();
        string? traceParent = null;
        string? traceState = null;
        if ((count & Protocol.TraceContextFlag) != 0)
        {
            count &= ~Protocol.TraceContextFlag;
            traceParent = reader.ReadString();
            traceState = reader.ReadString();
        }
        if (count < 0)
        {
            throw new InvalidDataException($"a Run frame with {count} items");
        }
        byte[] items = reader.ReadBytes(reader.Remaining).ToArray();
        return new Command(sequence, methodId, count, items, items.Length) { TraceParent = traceParent, TraceState = traceState };
    }

    /// <summary>Reads a Shutdown frame's body.</summary>
    public static Command ReadShutdown(ref PayloadReader reader)
    {
        int exitCode = reader.Read<int>();
        // The flag is optional: a pool's Shutdown has none and keeps the immediate exit.
        return new Command(0, 0, 0, [], 0) { ExitCode = exitCode, WaitForThreads = reader.Remaining > 0 && reader.Read<bool>() };
    }
}
