using System.Diagnostics;

namespace Multiprocessing.Channels;

/// <summary>
/// How long one kind of waiter of one endpoint (readers waiting for a message, or writers waiting
/// for room) spins before it parks, learned from how its recent spins ended, in the manner of
/// glibc's adaptive mutex and .NET's <see cref="Lock"/>.
/// </summary>
/// <remarks>
/// <para>Why adapt: a spin pays only while the other side runs on another core. With a process per
/// core (1 → 1 on two cores) the message usually arrives within microseconds, and the spin saves a
/// park (a futex sleep and the writer's wake system call). With more processes
/// than cores (4 → 4 on two) the other side is usually not running. Counted there (8 processes on 2
/// cores, a load of 26, the old fixed spin): of the readers' spins that succeeded, 336 of 346 did
/// so within three iterations (about 3 µs); 324 ran the full 64 and parked all the same; and the
/// writers' spins nearly all ran out (209 of 212), holding a core the readers needed.</para>
/// <para>The rule: a spin that ends in success doubles the budget, up to 16 µs; a spin
/// that runs out halves it, down to a floor of a few microseconds, which still catches a message
/// being written at that moment. A wait that finds what it waits for at its first look says nothing
/// about spinning and changes nothing. So 1 → 1 keeps the largest spin while its spins succeed, and an
/// oversubscribed machine shrinks it to the floor within a few waits.</para>
/// <para>Updates race between threads of one process; the budget is a hint, and a lost update only
/// makes one wait spin a little more or less.</para>
/// </remarks>
internal struct AdaptiveSpin
{
    /// <summary>
    /// The largest budget. It was 64 µs, about the fixed spin this replaced, while a park cost two
    /// thread wake-ups (the futex waiter thread's, then a thread-pool thread's). Since a waiter first
    /// parks on its own thread (<see cref="AdaptivePark"/>, one wake-up), a long spin saves less than
    /// it burns where processes outnumber cores: 16 µs cut the CPU per message of the 4 → 4
    /// MemoryPack runs (medians of 5 interleaved rounds, load 19 – 34) from 830 to 657 ns
    /// (SharedChannel) and from 656 to 594 ns (Pipe), and left 1 → 1 about where it was.
    /// </summary>
    private static readonly long s_maxTicks = Stopwatch.Frequency * 16 / 1_000_000;

    /// <summary>The smallest budget.</summary>
    private static readonly long s_minTicks = Stopwatch.Frequency * 4 / 1_000_000;

    private long _budgetTicks;

    /// <summary>How long the next spin may last, in <see cref="Stopwatch"/> ticks: the largest until a spin runs out.</summary>
    public readonly long BudgetTicks => _budgetTicks == 0 ? s_maxTicks : _budgetTicks;

    /// <summary>A spin found what it waited for.</summary>
    public void Succeeded() => _budgetTicks = Math.Min(s_maxTicks, BudgetTicks * 2);

    /// <summary>A spin used its whole budget; the waiter parks.</summary>
    public void RanOut() => _budgetTicks = Math.Max(s_minTicks, BudgetTicks / 2);
}
