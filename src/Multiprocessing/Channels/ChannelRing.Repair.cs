using System.Diagnostics;
using Multiprocessing.Synchronization;

namespace Multiprocessing.Channels;

/// <summary>
/// The ring's recovery from processes that die mid-message or all its writers dying (see the
/// remarks on <see cref="ChannelRing"/>): run by waiters that have seen no progress for a while.
/// </summary>
internal sealed unsafe partial class ChannelRing
{
    /// <summary>How long a waiter sees no progress before it looks for dead processes' claims.</summary>
    private static readonly long s_repairAfter = Stopwatch.Frequency / 5;

    /// <summary>
    /// Called by waiters that have seen no progress for <see cref="s_repairAfter"/>: frees what dead
    /// processes held, and completes the ring with an error when it is empty and every writer is dead.
    /// </summary>
    public void RepairIfStale(ref long lastCheck)
    {
        long now = Stopwatch.GetTimestamp();
        if (now - lastCheck < s_repairAfter)
        {
            return;
        }
        lastCheck = now;
        RepairWriterClaim();
        RepairReaderClaim();
        CompleteIfWritersAreGone();
    }

    private void RepairWriterClaim()
    {
        long position = Volatile.Read(ref Head);
        byte* slot = Slot(position);
        if (Volatile.Read(ref *(long*)slot) != position || Volatile.Read(ref Tail) <= position)
        {
            return; // nothing claimed and unpublished at the head
        }
        if (!ClaimIsAbandoned(1, position + 1, out long* dead))
        {
            return;
        }
        *(int*)(slot + 8) = -1;
        if (Interlocked.CompareExchange(ref *(long*)slot, position + 1, position) == position)
        {
            Interlocked.Increment(ref *(long*)(_ring + BrokenOffset));
            Volatile.Write(ref dead[1], 0);
            Signal(ReadSignal, ReadersAsleep);
        }
    }

    private void RepairReaderClaim()
    {
        long tail = Volatile.Read(ref Tail);
        long position = tail - Capacity;
        if (position < 0)
        {
            return;
        }
        byte* slot = Slot(position);
        if (Volatile.Read(ref *(long*)slot) != position + 1 || Volatile.Read(ref Head) <= position)
        {
            return; // the slot the writers need next is not held by a reader
        }
        if (ClaimIsAbandoned(2, position + 1, out long* dead)
            && Interlocked.CompareExchange(ref *(long*)slot, position + Capacity, position + 1) == position + 1)
        {
            Volatile.Write(ref dead[2], 0);
            Signal(WriteSignal, WritersAsleep);
        }
    }

    /// <summary>Whether every process that claims <paramref name="claim"/> (field 1: write, 2: read) is dead, and there is one.</summary>
    private bool ClaimIsAbandoned(int field, long claim, out long* dead)
    {
        dead = null;
        for (int i = 0; i < MaxProcesses; i++)
        {
            long* record = Record(i);
            long identity = Volatile.Read(ref record[0]);
            if (identity == 0 || Volatile.Read(ref record[field]) != claim)
            {
                continue;
            }
            if (ProcessIdentity.IsAlive(identity))
            {
                return false; // a live process holds it: it is only slow
            }
            dead = record;
        }
        return dead is not null;
    }

    private void CompleteIfWritersAreGone()
    {
        if (Volatile.Read(ref State) != Open || HasMessage())
        {
            return;
        }
        var pids = new List<int>();
        for (int i = 0; i < MaxProcesses; i++)
        {
            long* record = Record(i);
            long identity = Volatile.Read(ref record[0]);
            if (identity == 0 || (Volatile.Read(ref *(int*)(record + 3)) & WriterFlag) == 0)
            {
                continue;
            }
            if (ProcessIdentity.IsAlive(identity))
            {
                return;
            }
            pids.Add(ProcessIdentity.Pid(identity));
        }
        if (pids.Count > 0)
        {
            TryComplete($"Every process that wrote to this channel has exited without completing it (process {string.Join(", ", pids)}).");
        }
    }
}
