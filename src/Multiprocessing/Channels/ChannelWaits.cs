using Multiprocessing.Synchronization;

namespace Multiprocessing.Channels;

/// <summary>Waits until a ring has a message to read or is completed.</summary>
internal sealed unsafe class ReadableWait(SyncMemory memory, ChannelRing ring) : FutexWait(memory, ring.ReadSignal, waiters: null)
{
    private long _lastRepair = System.Diagnostics.Stopwatch.GetTimestamp();

    protected override bool TryTake(out int observed)
    {
        observed = ChannelRing.PrepareToSleep(ring.ReadSignal, ring.ReadersAsleep);
        if (ring.HasMessage() || ring.IsCompleted)
        {
            return true;
        }
        ring.RepairIfStale(ref _lastRepair);
        return ring.HasMessage() || ring.IsCompleted;
    }
}

/// <summary>Waits until a ring has room to write or is completed.</summary>
internal sealed unsafe class WritableWait(SyncMemory memory, ChannelRing ring) : FutexWait(memory, ring.WriteSignal, waiters: null)
{
    private long _lastRepair = System.Diagnostics.Stopwatch.GetTimestamp();

    protected override bool TryTake(out int observed)
    {
        observed = ChannelRing.PrepareToSleep(ring.WriteSignal, ring.WritersAsleep);
        if (ring.HasRoom() || ring.IsCompleted)
        {
            return true;
        }
        ring.RepairIfStale(ref _lastRepair);
        return ring.HasRoom() || ring.IsCompleted;
    }
}

/// <summary>
/// Waits until a ring is completed and drained: the reader's <c>Completion</c>. It does not count
/// itself as a waiting reader, so that writers do not make a system call per message for it; the
/// completing writer always wakes the word, and the last read is noticed within a waiter slice.
/// </summary>
internal sealed unsafe class DrainedWait(SyncMemory memory, ChannelRing ring) : FutexWait(memory, ring.ReadSignal, waiters: null)
{
    private long _lastRepair = System.Diagnostics.Stopwatch.GetTimestamp();

    protected override bool TryTake(out int observed)
    {
        observed = Volatile.Read(ref *ring.ReadSignal);
        if (!ring.IsCompleted)
        {
            ring.RepairIfStale(ref _lastRepair);
        }
        return ring.IsDrained;
    }
}
