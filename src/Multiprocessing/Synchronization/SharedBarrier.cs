using Multiprocessing.Interop;
using Multiprocessing.Serialization;
using Multiprocessing.Sharing;
using Multiprocessing.Synchronization;

namespace Multiprocessing;

/// <summary>
/// A barrier shared between processes, like <see cref="Barrier"/> (and Python's
/// <c>multiprocessing.Barrier</c>): each of <see cref="ParticipantCount"/> participants calls
/// <see cref="SignalAndWait(CancellationToken)"/>, and none returns until all have arrived; then
/// the phase number advances and the barrier is ready for the next phase.
/// </summary>
/// <remarks>
/// <para>The barrier is one 64-bit word: the phase (high half, the futex word waiters sleep on) and
/// the participant and arrival counts (low half), so arriving, withdrawing and removing a
/// participant are single compare-and-swaps.</para>
/// <para>A participant that dies (or never comes) cannot be told from a slow one, so the others wait
/// for it: a waiter without a time-out waits for ever, and a waiter with one gets a
/// <see cref="TimeoutException"/> (or false from <c>TrySignalAndWait</c>) and its arrival is
/// withdrawn, leaving the barrier as it was before the call. To carry on without the dead
/// participant, the survivors call <see cref="RemoveParticipant"/> once for it and signal again.
/// What the dead participant did in the current phase is not undone.</para>
/// <para>Disposing the object that created the barrier closes it in every process: waiters get
/// <see cref="ObjectDisposedException"/>.</para>
/// </remarks>
public sealed unsafe class SharedBarrier : SharedObject, ISharedObjectFactory<SharedBarrier>
{
    /// <summary>The most participants a barrier can have (the count has 16 bits).</summary>
    public const int MaxParticipants = short.MaxValue;

    // The state word: phase << 32 | participants << 16 | arrived. On this little-endian machine
    // the phase is the 32-bit word at offset 4.
    private const int StateOffset = 0;
    private const int PhaseOffset = 4;
    private const int StateSize = 8;
    private const string Contents = "SharedBarrier:1";
    private static readonly int[] s_futexOffsets = [PhaseOffset];

    private readonly SyncMemory _memory;
    private readonly long* _state;
    private readonly int* _phase;

    private SharedBarrier(SyncMemory memory)
        : base(memory.Segment, ownsSegment: false, readOnly: false)
    {
        _memory = memory;
        _state = memory.At<long>(StateOffset);
        _phase = memory.At<int>(PhaseOffset);
    }

    /// <summary>Creates a barrier for <paramref name="participants"/> participants, in phase 0.</summary>
    /// <param name="participants">How many calls to <c>SignalAndWait</c> complete a phase: 1 to <see cref="MaxParticipants"/>.</param>
    /// <param name="name">A name by which other programs of this user can <see cref="Open"/> it while this object lives; null for none.</param>
    /// <returns>The barrier; dispose it to close it in every process.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="participants"/> is out of range.</exception>
    public static SharedBarrier Create(int participants, string? name = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(participants);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(participants, MaxParticipants);
        SyncMemory memory = SyncMemory.Create(StateSize, nameof(SharedBarrier), name, Contents, s_futexOffsets);
        *memory.At<long>(StateOffset) = (long)participants << 16;
        return new SharedBarrier(memory);
    }

    /// <summary>Opens the barrier another process created with <paramref name="name"/>.</summary>
    /// <param name="name">The name it was created with.</param>
    /// <returns>A barrier over the same state.</returns>
    /// <exception cref="SharedMemoryException">No live process holds that name, or it names something else.</exception>
    public static SharedBarrier Open(string name) =>
        new(SyncMemory.Open(name, StateSize, nameof(SharedBarrier), Contents, s_futexOffsets));

    static SharedBarrier ISharedObjectFactory<SharedBarrier>.Attach(SharedSegment segment, bool readOnly, ref PayloadReader reader) =>
        new(SyncMemory.Attach(segment, readOnly, StateSize, nameof(SharedBarrier), s_futexOffsets));

    /// <summary>The number of the current phase: 0 at first, one more each time all participants arrive (wraps after 2^32 phases).</summary>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public long CurrentPhaseNumber => (uint)(Read() >>> 32);

    /// <summary>How many participants complete a phase.</summary>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public int ParticipantCount => Participants(Read());

    /// <summary>How many participants have not yet arrived in the current phase.</summary>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public int ParticipantsRemaining
    {
        get
        {
            long state = Read();
            return Participants(state) - Arrived(state);
        }
    }

    /// <summary>Arrives, and waits as long as it takes for the others.</summary>
    /// <param name="cancellationToken">Stops waiting (the arrival is withdrawn).</param>
    /// <exception cref="OperationCanceledException">The token was cancelled before the phase completed.</exception>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public void SignalAndWait(CancellationToken cancellationToken = default) => TrySignalAndWaitCore(Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>Arrives, and waits up to <paramref name="timeout"/> for the others.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="cancellationToken">Stops waiting (the arrival is withdrawn).</param>
    /// <exception cref="TimeoutException">The phase did not complete within <paramref name="timeout"/> (a participant is slow, gone or dead); the arrival was withdrawn.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before the phase completed.</exception>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public void SignalAndWait(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (!TrySignalAndWaitCore(FutexWait.Validate(timeout), cancellationToken))
        {
            throw TimedOut(timeout);
        }
    }

    /// <summary>Arrives, and waits up to <paramref name="timeout"/> for the others.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Stops waiting (the arrival is withdrawn).</param>
    /// <returns>True when the phase completed; false when the time-out passed (the arrival was withdrawn).</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled before the phase completed.</exception>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public bool TrySignalAndWait(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        TrySignalAndWaitCore(FutexWait.Validate(timeout), cancellationToken);

    /// <summary>Arrives, and waits asynchronously as long as it takes for the others. No thread is held while waiting.</summary>
    /// <param name="cancellationToken">Stops waiting (the arrival is withdrawn).</param>
    /// <returns>A task that completes when the phase completes.</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled before the phase completed.</exception>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public ValueTask SignalAndWaitAsync(CancellationToken cancellationToken = default) => SignalAndWaitAsync(Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>Arrives, and waits asynchronously up to <paramref name="timeout"/> for the others.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="cancellationToken">Stops waiting (the arrival is withdrawn).</param>
    /// <returns>A task that completes when the phase completes.</returns>
    /// <exception cref="TimeoutException">The phase did not complete within <paramref name="timeout"/>; the arrival was withdrawn.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before the phase completed.</exception>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public ValueTask SignalAndWaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        AsyncResults.OrThrow(TrySignalAndWaitAsync(timeout, cancellationToken), () => TimedOut(timeout));

    /// <summary>Arrives, and waits asynchronously up to <paramref name="timeout"/> for the others. No thread is held while waiting.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Stops waiting (the arrival is withdrawn).</param>
    /// <returns>True when the phase completed; false when the time-out passed.</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled before the phase completed.</exception>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public ValueTask<bool> TrySignalAndWaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        FutexWait.Validate(timeout);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<bool>(cancellationToken);
        }
        return new ValueTask<bool>(FutexWaiter.WaitAsync(new PhaseWait(this), timeout, cancellationToken));
    }

    /// <summary>
    /// Lowers the participant count by one: for a participant that left or died. If everyone else
    /// has already arrived, this completes the phase.
    /// </summary>
    /// <exception cref="InvalidOperationException">Only one participant is left, or more participants have arrived in this phase than would remain.</exception>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public void RemoveParticipant()
    {
        _memory.Enter();
        try
        {
            long state = Volatile.Read(ref *_state);
            while (true)
            {
                int participants = Participants(state) - 1;
                int arrived = Arrived(state);
                if (participants < 1 || arrived > participants)
                {
                    throw new InvalidOperationException(
                        participants < 1 ? "The SharedBarrier's last participant cannot be removed."
                        : $"{arrived} participants have arrived in this phase; the barrier cannot shrink to {participants}.");
                }
                bool completes = arrived == participants && arrived > 0;
                long next = completes ? Next(state, participants) : state - (1L << 16);
                long seen = Interlocked.CompareExchange(ref *_state, next, state);
                if (seen == state)
                {
                    if (completes)
                    {
                        Libc.FutexWake(_phase, int.MaxValue);
                    }
                    return;
                }
                state = seen;
            }
        }
        finally
        {
            _memory.Exit();
        }
    }

    private bool TrySignalAndWaitCore(TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _memory.Enter();
        try
        {
            return new PhaseWait(this).Run(timeout, cancellationToken);
        }
        finally
        {
            _memory.Exit();
        }
    }

    private long Read()
    {
        _memory.Enter();
        try
        {
            return Volatile.Read(ref *_state);
        }
        finally
        {
            _memory.Exit();
        }
    }

    private static int Participants(long state) => (int)((state >> 16) & 0xFFFF);

    private static int Arrived(long state) => (int)(state & 0xFFFF);

    /// <summary>The state of the next phase: phase + 1, nobody arrived.</summary>
    private static long Next(long state, int participants) => (long)((ulong)(uint)((state >>> 32) + 1) << 32) | ((long)participants << 16);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        _memory.Close();
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        if (!_memory.TryEnter())
        {
            return "SharedBarrier (disposed)";
        }
        try
        {
            long state = Volatile.Read(ref *_state);
            return $"SharedBarrier(phase {(uint)(state >>> 32)}, {Participants(state) - Arrived(state)} of {Participants(state)} to come){(Name is null ? "" : $" '{Name}'")}";
        }
        finally
        {
            _memory.Exit();
        }
    }

    private static TimeoutException TimedOut(TimeSpan timeout) =>
        new($"The SharedBarrier's phase did not complete within {timeout.TotalMilliseconds:0.#} ms: a participant is slow, has not come, or died " +
            "(a dead participant can be removed with RemoveParticipant). This arrival was withdrawn.");

    /// <summary>One arrival: counts in at <see cref="FutexWait.Begin"/>, then waits for the phase to move on.</summary>
    private sealed class PhaseWait(SharedBarrier owner) : FutexWait(owner._memory, owner._phase, waiters: null)
    {
        private int _phase;
        private bool _completedPhase;

        protected override void OnBegin()
        {
            long state = Volatile.Read(ref *owner._state);
            while (true)
            {
                int participants = Participants(state);
                bool last = Arrived(state) + 1 >= participants;
                long next = last ? Next(state, participants) : state + 1;
                long seen = Interlocked.CompareExchange(ref *owner._state, next, state);
                if (seen == state)
                {
                    _phase = (int)(state >>> 32);
                    if (last)
                    {
                        _completedPhase = true;
                        Libc.FutexWake(owner._phase, int.MaxValue);
                    }
                    return;
                }
                state = seen;
            }
        }

        protected override bool TryTake(out int observed)
        {
            observed = Volatile.Read(ref *owner._phase);
            return _completedPhase || observed != _phase;
        }

        protected override bool OnWithdraw()
        {
            long state = Volatile.Read(ref *owner._state);
            while (true)
            {
                if ((int)(state >>> 32) != _phase)
                {
                    return true; // the phase completed after all
                }
                long seen = Interlocked.CompareExchange(ref *owner._state, state - 1, state);
                if (seen == state)
                {
                    return false;
                }
                state = seen;
            }
        }
    }
}
