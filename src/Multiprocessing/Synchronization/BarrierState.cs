using System.Runtime.InteropServices;

namespace Multiprocessing.Synchronization;

/// <summary>
/// The <see cref="SharedBarrier"/> in shared memory, one 64-bit state word, and every move on it as
/// pure functions of the word: <c>phase &lt;&lt; 32 | broken &lt;&lt; 31 | participants &lt;&lt; 16 | arrived</c>.
/// Arriving, withdrawing, breaking, resetting and removing a participant are each one
/// compare-and-swap from one value of this word to the next.
/// </summary>
/// <remarks>
/// Every event that releases waiters (a phase completes, the barrier breaks, it is reset) changes
/// the phase half, which is the futex word waiters sleep on, so a sleeper never misses one; a
/// waiter tells the events apart afterwards by the parity rule in <see cref="Judge"/>.
/// </remarks>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct BarrierState : ISyncState
{
    public const long BrokenBit = 1L << 31;

    // The phase is the high half of the word: on these little-endian machines, the 32-bit word at offset 4.
    private const int PhaseOffset = 4;

    /// <summary>The state word.</summary>
    public long Word;

    public static SyncLayout Layout { get; } = SyncLayout.Of<BarrierState>(nameof(SharedBarrier), "SharedBarrier:2", PhaseOffset);

    /// <summary>The phase half of <paramref name="state"/>'s word: the futex word waiters sleep on.</summary>
    public static int* PhaseWordOf(BarrierState* state) => (int*)((byte*)state + PhaseOffset);

    /// <summary>A new barrier: phase 0, nobody arrived, not broken.</summary>
    public static long Initial(int participants) => (long)participants << 16;

    public static long Phase(long state) => (uint)(state >>> 32);

    public static bool IsBroken(long state) => (state & BrokenBit) != 0;

    public static int Participants(long state) => (int)((state >> 16) & 0x7FFF);

    public static int Arrived(long state) => (int)(state & 0xFFFF);

    /// <summary>The state <paramref name="phases"/> phase numbers on: nobody arrived, not broken.</summary>
    public static long Advance(long state, int phases, int participants) =>
        (long)((ulong)(uint)((state >>> 32) + (uint)phases) << 32) | ((long)participants << 16);

    /// <summary><see cref="SharedBarrier.Abort"/>: a new phase, broken; a broken barrier stays as it is.</summary>
    public static long Abort(long state) => IsBroken(state) ? state : Advance(state, 1, Participants(state)) | BrokenBit;

    /// <summary>
    /// <see cref="SharedBarrier.Reset"/>: a broken barrier mends in a new phase; one with arrivals
    /// moves two phases in one step (its waiters see a break, then a reset); otherwise nothing.
    /// </summary>
    public static long Reset(long state) =>
        IsBroken(state) ? Advance(state, 1, Participants(state))
        : Arrived(state) > 0 ? Advance(state, 2, Participants(state))
        : state;

    /// <summary>
    /// <see cref="SharedBarrier.RemoveParticipant"/>: one participant fewer; when everyone left has
    /// arrived, that completes the phase (<paramref name="completes"/>: the waiters must be woken).
    /// </summary>
    /// <exception cref="InvalidOperationException">Only one participant is left, or more have arrived than would remain.</exception>
    public static long RemoveOne(long state, out bool completes)
    {
        int participants = Participants(state) - 1;
        int arrived = Arrived(state);
        if (participants < 1 || arrived > participants)
        {
            throw new InvalidOperationException(
                participants < 1 ? "The SharedBarrier's last participant cannot be removed."
                : $"{arrived} participants have arrived in this phase; the barrier cannot shrink to {participants}.");
        }
        completes = arrived == participants && arrived > 0 && !IsBroken(state);
        return completes ? Advance(state, 1, participants) : state - (1L << 16);
    }

    /// <summary>
    /// How the phase <paramref name="phase"/>, in which an arrival waited, ended, seen from any
    /// later state: null when it completed, else the exception its waiter gets. Every event moves
    /// the phase on: a completion by one (not broken), a break by one (broken), a reset of a broken
    /// barrier by one (not broken), a reset of one with arrivals by two. After this arrival's phase
    /// ends, no later phase completes without it, so only breaks and resets follow, each pair of
    /// which adds two: the phase completed exactly when the distance is odd and the barrier not
    /// broken, or even and broken.
    /// </summary>
    public static BarrierBrokenException? Judge(long state, int phase)
    {
        bool odd = ((uint)(state >>> 32) - (uint)phase & 1) != 0;
        bool broken = IsBroken(state);
        if (odd != broken)
        {
            return null;
        }
        return Broken(broken ? "broke while this participant waited (Abort was called, or the post-phase action threw); call Reset to use it again"
            : "was reset (or broken, then reset) while this participant waited; its arrival was dropped");
    }

    public static BarrierBrokenException Broken(string why, Exception? inner = null) => new($"The SharedBarrier {why}.", inner);

    /// <summary>What <c>ToString</c> shows of the state.</summary>
    public static string Describe(long state) =>
        $"(phase {Phase(state)}, {(IsBroken(state) ? "broken" : $"{Participants(state) - Arrived(state)} of {Participants(state)} to come")})";
}
