using System.Diagnostics;
using Multiprocessing.Sharing;

namespace Multiprocessing.Worker;

/// <summary>
/// A small page of shared memory per worker into which the worker records, with plain stores and
/// no system call, how many items it has started and when it started the latest one. The parent
/// reads it when the worker dies or overruns, and so knows exactly which of the tasks it had sent
/// were running (they fail) and which had not started (they are safe to hand to another worker).
/// </summary>
internal sealed unsafe class WorkerStatus : IDisposable
{
    public const int Size = 4096;

    private readonly SharedSegment _segment;

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

    public void Dispose() => _segment.Dispose();
}
