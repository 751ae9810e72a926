using System.Diagnostics;

namespace Multiprocessing.Channels;

/// <summary>
/// How long one kind of waiter of one endpoint (readers waiting for a message, or writers waiting
/// for room) sleeps on the calling thread, after its spin and before it hands the wait to the
/// process's futex waiter thread, learned from how its recent waits ended.
/// </summary>
/// <remarks>
/// <para><b>Why park on the calling thread at all.</b> A wait handed to the futex waiter thread is
/// woken in two hops: the other side's futex wake wakes the waiter thread, which completes the task,
/// whose continuation a thread-pool thread must then wake up to run. When the two sides of a stream
/// take turns (1 → 1: the ring fills while the reader is being woken, and empties while the writer
/// is), each hop is a thread that must wait for a core; under load that took about 0.8 ms per parked
/// wait, as long as one side needs to fill or drain 4,096 slots, so both sides idled in turn. A
/// thread asleep in futex itself is woken in one hop, and it is already the thread that runs the
/// continuation. Measured (2026-12-06, load 20 – 35, MemoryPack records 1 → 1): the consumer's
/// parked waits went from about 100 per 500,000 messages to none.</para>
/// <para><b>Why it must learn.</b> The caller's thread is blocked meanwhile, which is a good trade
/// only while the other side answers within the budget: a stream's. On an idle channel (a server
/// awaiting a request that comes once a second) every park would hold a thread-pool thread for the
/// whole budget and then wait asynchronously anyway. So: a park that is woken in time doubles the
/// budget, up to <see cref="s_maxTicks"/>; a park that runs out halves it, and below
/// <see cref="s_minTicks"/> turns parking off. While off, an asynchronous wait that ends within the
/// largest budget turns it back on at the smallest (the next waits then show whether it pays).</para>
/// <para>Updates race between threads of one process; the budget is a hint (as in <see cref="AdaptiveSpin"/>).</para>
/// </remarks>
internal struct AdaptivePark
{
    /// <summary>The largest budget: above the wake latency measured under load (about 0.8 ms), below a scheduler tick.</summary>
    private static readonly long s_maxTicks = Stopwatch.Frequency / 1000;

    /// <summary>The smallest budget; less than this and parking is off.</summary>
    private static readonly long s_minTicks = Stopwatch.Frequency * 50 / 1_000_000;

    // Stored as the distance from the largest budget, so that the zeroed struct starts at the largest.
    private long _belowMax;

    /// <summary>How long the next park may last, in <see cref="Stopwatch"/> ticks; 0: do not park.</summary>
    public readonly long BudgetTicks => s_maxTicks - _belowMax;

    /// <summary>The budget as a time-out for <c>FutexWait.Run</c>.</summary>
    public readonly TimeSpan Budget => Stopwatch.GetElapsedTime(0, BudgetTicks);

    /// <summary>A park was woken with something to look at.</summary>
    public void Woken() => Set(Math.Min(s_maxTicks, BudgetTicks * 2));

    /// <summary>A park used its whole budget; the waiter goes on to wait asynchronously.</summary>
    public void RanOut()
    {
        long half = BudgetTicks / 2;
        Set(half < s_minTicks ? 0 : half);
    }

    /// <summary>An asynchronous wait (parking off, or after a park that ran out) ended after <paramref name="elapsedTicks"/>.</summary>
    public void WaitedAsynchronously(long elapsedTicks)
    {
        if (BudgetTicks == 0 && elapsedTicks < s_maxTicks)
        {
            Set(s_minTicks);
        }
    }

    private void Set(long budgetTicks) => _belowMax = s_maxTicks - budgetTicks;
}
