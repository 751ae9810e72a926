using System.Runtime.CompilerServices;
using Multiprocessing.Interop;

namespace Multiprocessing.Channels;

/// <summary>
/// The ordering between a ring's wakers (every write and every read) and its sleepers (a side about
/// to park), made cheap for the wakers: they check a sleeper flag after publishing, and the sleeper
/// sets it before its last look. That is Dekker's pattern, which needs a store → load barrier on
/// both sides; here the sleeper, which is rare, pays for both with membarrier(2), and the waker,
/// which is every message, pays nothing but a compiler barrier.
/// </summary>
/// <remarks>
/// <para><b>Why.</b> The waker's full fence was the largest single item in the profiles of the
/// MemoryPack record runs (15% of the samples at 1 → 1, 16% at 4 → 4): it waits for the store of the
/// message into a slot line the other side's core last held, so every message paid the transfer of
/// its line between cores in full. Without the fence that transfer overlaps the next message's
/// serialisation.</para>
/// <para><b>Why it is still correct</b> (the pattern of the membarrier(2) manual page). Waker: W1
/// store the slot's sequence (the message is published), compiler barrier, R1 load the flag.
/// Sleeper: W2 store the flag (a locked exchange), membarrier(GLOBAL_EXPEDITED), R2 load the slot's
/// sequence. The call returns only after every CPU running a thread of a registered process has run
/// a full barrier (a thread not running has passed one in its context switch). If the waker's
/// barrier fell after W1 in its program order, W1 was visible before the call returned, so R2 sees
/// the message. If it fell before W1, it also fell before R1, and after W2 was visible (W2 completed
/// before the call began), so R1 sees the flag and wakes the sleeper. Either way no wake is lost. The
/// compiler barrier (a call the JIT cannot inline or see through) keeps W1 before R1 in the code.</para>
/// <para><b>Mixed processes.</b> A process decides once, at first use, by registering. One whose
/// registration fails keeps the full fence as a waker. As a sleeper it must still cover wakers in
/// other processes that did register and skip the fence: if the kernel offers the expedited call
/// (so others may have registered), it uses the slow unregistered membarrier (GLOBAL, a grace
/// period: milliseconds, but only in this unusual case: a seccomp filter that refuses the
/// registration to some processes of one machine and not others). On a kernel without it nobody
/// registers, every waker fences, and the sleeper needs nothing more than its locked exchange.
/// If even the slow call fails (or a filter refuses this process the query too), the sleeper relies on the futex waiter's periodic look (200 ms).</para>
/// </remarks>
internal static class SleepFence
{
    /// <summary>Whether the kernel offers the expedited barrier, so that other processes may skip their fence.</summary>
    private static readonly bool s_offered = OperatingSystem.IsLinux() && Libc.MembarrierHasGlobalExpedited();

    /// <summary>Whether this process registered, so its wakers may skip the fence (a constant to the tier-1 JIT).</summary>
    private static readonly bool s_registered = s_offered && Libc.MembarrierRegisterGlobalExpedited();

    /// <summary>Decides (and registers) now if this process has not yet: called when a ring is opened.</summary>
    public static bool Prepare() => s_registered;

    /// <summary>The waker's side: between publishing (or freeing) a slot and reading the sleeper flag.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Waker()
    {
        if (s_registered)
        {
            CompilerBarrier();
        }
        else
        {
            Interlocked.MemoryBarrier();
        }
    }

    /// <summary>The sleeper's side: after setting the sleeper flag, before the last look.</summary>
    public static void Sleeper()
    {
        if (s_offered && !(s_registered && Libc.MembarrierGlobalExpedited()))
        {
            Libc.MembarrierGlobal();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CompilerBarrier()
    {
    }
}
