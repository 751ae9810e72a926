using Multiprocessing.Interop;

namespace Multiprocessing.Synchronization;

/// <summary>
/// Wakes this process's untimed futex sleepers every <see cref="FutexWait.Slice"/>, so that they look
/// again (is the lock's owner alive? was the wait cancelled or the object closed?) without each
/// sleep arming a kernel timer. A timed FUTEX_WAIT costs about 0.7 µs more than an untimed one on
/// these machines (measured with the C floor), which is a tenth of a contended lock hand-off; one
/// thread waking the few words that have sleepers five times a second costs nothing comparable.
/// </summary>
/// <remarks>
/// A sleeper claims a slot with one compare-and-swap and clears it with one write, so the hand-off
/// path takes no lock. A wake reaches every sleeper on the word, in every process; the others look
/// and sleep again. When no slot has been used for a while the thread parks, so an idle process is
/// not woken five times a second.
/// </remarks>
internal static unsafe class FutexTicker
{
    private const int Slots = 256;
    private const int IdleTicksBeforeParking = 5;
    private static readonly nint[] s_slots = new nint[Slots];
    private static readonly SemaphoreSlim s_unpark = new(0);
    private static int s_parked = 1;
    private static int s_started;

    /// <summary>
    /// Records a sleeper on <paramref name="word"/>; returns its slot for <see cref="Unregister"/>, or
    /// -1 when every slot is taken (the caller then sleeps with a time-out of its own).
    /// </summary>
    public static int Register(int* word)
    {
        for (int slot = 0; slot < Slots; slot++)
        {
            if (Volatile.Read(ref s_slots[slot]) == 0 && Interlocked.CompareExchange(ref s_slots[slot], (nint)word, 0) == 0)
            {
                // The swap is a full fence: either the ticker sees our slot in its last scan before
                // parking, or we see it parked here and wake it.
                if (Volatile.Read(ref s_parked) != 0)
                {
                    Unpark();
                }
                return slot;
            }
        }
        return -1;
    }

    /// <summary>Clears a slot <see cref="Register"/> returned.</summary>
    public static void Unregister(int slot)
    {
        if (slot >= 0)
        {
            Volatile.Write(ref s_slots[slot], 0);
        }
    }

    private static void Unpark()
    {
        if (Interlocked.CompareExchange(ref s_started, 1, 0) == 0)
        {
            Volatile.Write(ref s_parked, 0);
            var thread = new Thread(Loop) { IsBackground = true, Name = "mp futex ticker" };
            thread.UnsafeStart();
        }
        else if (Interlocked.Exchange(ref s_parked, 0) != 0)
        {
            s_unpark.Release();
        }
    }

    private static void Loop()
    {
        int idleTicks = 0;
        while (true)
        {
            Thread.Sleep(FutexWait.Slice);
            // FUTEX_WAKE on a word whose segment was unmapped since the read fails with EFAULT and
            // touches nothing, so no lock is needed against sleepers leaving.
            bool any = WakeAll();
            idleTicks = any ? 0 : idleTicks + 1;
            if (idleTicks < IdleTicksBeforeParking)
            {
                continue;
            }
            Interlocked.Exchange(ref s_parked, 1);
            if (WakeAll())
            {
                // A sleeper registered before it could see us parked: stay awake for it.
                if (Interlocked.Exchange(ref s_parked, 0) == 0)
                {
                    s_unpark.Wait(); // it saw us parked after all and released the semaphore: consume that
                }
                idleTicks = 0;
                continue;
            }
            s_unpark.Wait();
            idleTicks = 0;
        }
    }

    private static bool WakeAll()
    {
        bool any = false;
        for (int slot = 0; slot < Slots; slot++)
        {
            nint word = Volatile.Read(ref s_slots[slot]);
            if (word != 0)
            {
                any = true;
                Libc.FutexWakeAllQuietly((int*)word);
            }
        }
        return any;
    }
}
