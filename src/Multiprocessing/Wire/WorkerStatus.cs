using System.Diagnostics;
using Multiprocessing.Sharing;

namespace Multiprocessing.Wire;

/// <summary>
/// A small piece of shared memory per worker into which the worker records, with plain stores and
/// no system call, how many items it has started and when it started the latest one. The parent
/// reads it when the worker dies or overruns, and so knows exactly which of the tasks it had sent
/// were running (they fail) and which had not started (they are safe to hand to another worker).
/// </summary>
/// <remarks>
/// It also holds the worker's <b>journal</b>: result frames of finished units that the worker has
/// not sent yet (it sends the results of tiny units in batches). They are in the journal before the
/// next unit starts, so a worker that dies in that unit loses none of them: the parent reads the
/// journal after the process has exited and delivers what the socket did not bring. The memory is
/// sparse; a worker that never batches touches only the first page.
/// </remarks>
internal sealed unsafe class WorkerStatus : IDisposable
{
    private const int JournalOffset = 4096;
    private const int JournalLengthOffset = 64;

    public const int Size = JournalOffset + 60 * 1024;

    /// <summary>Most bytes of unsent result frames the journal holds.</summary>
    public const int JournalCapacity = Size - JournalOffset;

    private readonly SharedSegment _segment;
    private readonly Lock _lifetime = new();
    private bool _disposed;

    private WorkerStatus(SharedSegment segment) => _segment = segment;

    public string Path => _segment.Path;

    private ref long ItemsStartedWord => ref *(long*)_segment.Pointer;

    private ref long StartedAtWord => ref *(long*)(_segment.Pointer + 8);

    public static WorkerStatus Create() => new(SharedSegment.CreateMemory(Size, "mp-worker-status"));

    public static WorkerStatus Open(string path) => new(SharedSegment.OpenPath(path, writable: true));

    /// <summary>Worker side: marks the start of the next item; <paramref name="itemsStarted"/> counts it.</summary>
    public void BeginItem(long itemsStarted)
    {
        // The time goes first so that a parent that sees the new count also sees a time at least as new.
        Volatile.Write(ref StartedAtWord, Stopwatch.GetTimestamp());
        Volatile.Write(ref ItemsStartedWord, itemsStarted);
    }

    /// <summary>Worker side: records that items up to <paramref name="itemsStarted"/> were begun or skipped.</summary>
    public void Advance(long itemsStarted) => Volatile.Write(ref ItemsStartedWord, itemsStarted);

    /// <summary>Parent side: how many of the items sent to this worker it had begun.</summary>
    public long ItemsStarted => Volatile.Read(ref ItemsStartedWord);

    /// <summary>Parent side: a consistent (count, start time) pair, or false if the worker moved on while reading.</summary>
    public bool TryReadCurrent(out long itemsStarted, out long startedAt)
    {
        itemsStarted = Volatile.Read(ref ItemsStartedWord);
        startedAt = Volatile.Read(ref StartedAtWord);
        return Volatile.Read(ref ItemsStartedWord) == itemsStarted;
    }

    private ref int JournalLengthWord => ref *(int*)(_segment.Pointer + JournalLengthOffset);

    /// <summary>Worker side: appends whole frames to the journal; false (nothing written) when they do not fit.</summary>
    public bool TryAppendJournal(ReadOnlySpan<byte> frames)
    {
        int length = JournalLengthWord;
        if (frames.Length > JournalCapacity - length)
        {
            return false;
        }
        frames.CopyTo(new Span<byte>(_segment.Pointer + JournalOffset + length, frames.Length));
        // Published after the bytes: a parent that reads the new length reads whole frames.
        Volatile.Write(ref JournalLengthWord, length + frames.Length);
        return true;
    }

    /// <summary>Worker side: what the journal holds (whole frames, in order).</summary>
    public ReadOnlySpan<byte> Journal => new(_segment.Pointer + JournalOffset, JournalLengthWord);

    /// <summary>Worker side: everything in the journal has been sent.</summary>
    public void ResetJournal() => Volatile.Write(ref JournalLengthWord, 0);

    /// <summary>Parent side, once the worker has exited: a copy of the result frames it had not sent.</summary>
    public byte[] ReadJournal()
    {
        lock (_lifetime)
        {
            if (_disposed)
            {
                return [];
            }
            int length = Math.Clamp(Volatile.Read(ref JournalLengthWord), 0, JournalCapacity);
            return new ReadOnlySpan<byte>(_segment.Pointer + JournalOffset, length).ToArray();
        }
    }

    public void Dispose()
    {
        lock (_lifetime)
        {
            _disposed = true;
            _segment.Dispose();
        }
    }
}
