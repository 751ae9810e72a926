namespace Multiprocessing.Channels;

/// <summary>
/// Lets one thread of this process at a time through: the gates around a ring's writes and reads,
/// which keep this process's claim record (one write claim, one read claim) to one thread each.
/// </summary>
/// <remarks>
/// Not <see cref="Lock"/>: every message passes a gate, nearly always uncontended, and there
/// <see cref="Lock"/> costs two interlocked operations and a thread-id lookup (about 9% of the
/// samples of a 4 → 4 MemoryPack run under perf); this costs one compare-exchange to enter and a
/// plain store to leave. Not re-entrant (nothing under a gate takes it again), and a thread that
/// finds it held spins, yields, then sleeps in 1 ms steps (<see cref="SpinWait"/>): another thread
/// of this process holds it only for the few hundred nanoseconds of one claim, unless preempted.
/// </remarks>
internal struct ThreadGate
{
    private int _held;

    public void Enter()
    {
        if (Interlocked.CompareExchange(ref _held, 1, 0) != 0)
        {
            EnterContended();
        }
    }

    public void Exit() => Volatile.Write(ref _held, 0);

    private void EnterContended()
    {
        var spin = default(SpinWait);
        do
        {
            spin.SpinOnce();
        }
        while (Volatile.Read(ref _held) != 0 || Interlocked.CompareExchange(ref _held, 1, 0) != 0);
    }
}
