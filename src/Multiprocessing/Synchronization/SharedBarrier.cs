using Multiprocessing.Interop;
using Multiprocessing.Payload;
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
/// <para>The barrier is one 64-bit word: the phase (high half, the futex word waiters sleep on), the
/// broken flag and the participant and arrival counts (low half), so arriving, withdrawing,
/// breaking and removing a participant are single compare-and-swaps.</para>
/// <para><b>Broken.</b> Like Python's <c>Barrier</c>, the barrier can be broken: by
/// <see cref="Abort"/> (from any process), or by a post-phase action that throws. Every participant
/// waiting, in any process, and every later arrival then gets a <see cref="BarrierBrokenException"/>
/// until <see cref="Reset"/> is called. Breaking and resetting each start a new phase number (so
/// that a waiter can tell a phase that completed from one that broke while it slept):
/// <see cref="CurrentPhaseNumber"/> counts completed phases only while the barrier never breaks.</para>
/// <para><b>Post-phase action.</b> An action given to <see cref="Create(int, Action{long}, string?)"/>
/// or set on <see cref="PostPhaseAction"/> runs once per phase, in the process of the participant
/// that arrives last, with the action that process's object holds (null there: none), before the
/// others are released; it gets the number of the phase that completes. If it throws, the barrier
/// breaks: the last arriver gets a <see cref="BarrierBrokenException"/> whose inner exception is
/// the action's, the others one without it.</para>
/// <para><b>Time-outs and cancellation.</b> Unlike Python's, a waiter that times out or is
/// cancelled does not break the barrier: as with .NET's <see cref="Barrier"/>, its arrival is
/// withdrawn, leaving the barrier as it was before the call, so the others can still complete the
/// phase once it signals again. For Python's behaviour, call <see cref="Abort"/> on a time-out.
/// (A time-out that passes while the post-phase action runs waits for the action: the phase is
/// already complete.)</para>
/// <para>A participant that dies (or never comes) cannot be told from a slow one, so the others wait
/// for it: a waiter without a time-out waits for ever, and a waiter with one gets a
/// <see cref="TimeoutException"/> (or false from <c>TrySignalAndWait</c>) and its arrival is
/// withdrawn. To carry on without the dead participant, the survivors call
/// <see cref="RemoveParticipant"/> once for it and signal again (or <see cref="Abort"/> to give up).
/// A participant that dies while waiting has already counted its arrival, so the phase it waited
/// in still completes when the others come; it is missed from the next phase on.
/// What the dead participant did in the current phase is not undone.</para>
/// <para>Disposing the object that created the barrier closes it in every process: waiters get
/// <see cref="ObjectDisposedException"/>.</para>
/// </remarks>
public sealed unsafe class SharedBarrier : SharedObject, ISharedObjectFactory<SharedBarrier>
{
    /// <summary>The most participants a barrier can have (the count has 15 bits).</summary>
    public const int MaxParticipants = short.MaxValue;

    private readonly FutexPrimitive<BarrierState> _shared;
    private Action<long>? _postPhaseAction;

    private SharedBarrier(FutexPrimitive<BarrierState> shared)
        : base(shared.Segment, holder: shared) => _shared = shared;

    /// <summary>The barrier's memory, for its arrivals (<see cref="BarrierArrival"/>).</summary>
    internal FutexPrimitive<BarrierState> Shared => _shared;

    /// <summary>The post-phase action of this process's object, without the disposal check (an arrival already holds a use).</summary>
    internal Action<long>? ActionHere => Volatile.Read(ref _postPhaseAction);

    /// <summary>Creates a barrier for <paramref name="participants"/> participants, in phase 0.</summary>
    /// <param name="participants">How many calls to <c>SignalAndWait</c> complete a phase: 1 to <see cref="MaxParticipants"/>.</param>
    /// <param name="name">A name by which other programs of this user can <see cref="Open"/> it while this object lives; null for none.</param>
    /// <returns>The barrier; dispose it to close it in every process.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="participants"/> is out of range.</exception>
    public static SharedBarrier Create(int participants, string? name = null) => CreateCore(participants, null, name);

    /// <summary>Creates a barrier for <paramref name="participants"/> participants, in phase 0, with a post-phase action.</summary>
    /// <param name="participants">How many calls to <c>SignalAndWait</c> complete a phase: 1 to <see cref="MaxParticipants"/>.</param>
    /// <param name="postPhaseAction">
    /// Run once per phase by the last participant to arrive, before the others are released, with the
    /// number of the phase that completes; it runs in that participant's process with that process's
    /// <see cref="PostPhaseAction"/> (this one, in this process). If it throws, the barrier breaks.
    /// </param>
    /// <param name="name">A name by which other programs of this user can <see cref="Open"/> it while this object lives; null for none.</param>
    /// <returns>The barrier; dispose it to close it in every process.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="participants"/> is out of range.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="postPhaseAction"/> is null.</exception>
    public static SharedBarrier Create(int participants, Action<long> postPhaseAction, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(postPhaseAction);
        return CreateCore(participants, postPhaseAction, name);
    }

    private static SharedBarrier CreateCore(int participants, Action<long>? postPhaseAction, string? name)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(participants);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(participants, MaxParticipants);
        var shared = FutexPrimitive<BarrierState>.Create(name, new BarrierState { Word = BarrierState.Initial(participants) });
        return new SharedBarrier(shared) { _postPhaseAction = postPhaseAction };
    }

    /// <summary>Opens the barrier another process created with <paramref name="name"/>.</summary>
    /// <param name="name">The name it was created with.</param>
    /// <returns>A barrier over the same state.</returns>
    /// <exception cref="SharedMemoryException">No live process holds that name, or it names something else.</exception>
    public static SharedBarrier Open(string name) => new(FutexPrimitive<BarrierState>.Open(name));

    static SharedBarrier ISharedObjectFactory<SharedBarrier>.Attach(SharedSegment segment, bool readOnly, ref PayloadReader reader) =>
        new(FutexPrimitive<BarrierState>.Attach(segment, readOnly));

    /// <summary>The number of the current phase: 0 at first, one more each time all participants arrive (wraps after 2^32 phases).</summary>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public long CurrentPhaseNumber => BarrierState.Phase(Read());

    /// <summary>
    /// The action this process runs when one of its participants arrives last in a phase, before the
    /// others are released (see <see cref="Create(int, Action{long}, string?)"/>); null for none. Each
    /// object holds its own: set it on the object a process opened or received to have that process
    /// run it. It may capture state: it never leaves this process.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public Action<long>? PostPhaseAction
    {
        get
        {
            _ = Read();
            return Volatile.Read(ref _postPhaseAction);
        }
        set
        {
            _ = Read();
            Volatile.Write(ref _postPhaseAction, value);
        }
    }

    /// <summary>Whether the barrier is broken (<see cref="Abort"/>, or a post-phase action threw): every arrival then throws <see cref="BarrierBrokenException"/> until <see cref="Reset"/>.</summary>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public bool IsBroken => BarrierState.IsBroken(Read());

    /// <summary>How many participants complete a phase.</summary>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public int ParticipantCount => BarrierState.Participants(Read());

    /// <summary>How many participants have not yet arrived in the current phase.</summary>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public int ParticipantsRemaining
    {
        get
        {
            long state = Read();
            return BarrierState.Participants(state) - BarrierState.Arrived(state);
        }
    }

    /// <summary>Arrives, and waits as long as it takes for the others.</summary>
    /// <param name="cancellationToken">Stops waiting (the arrival is withdrawn).</param>
    /// <exception cref="OperationCanceledException">The token was cancelled before the phase completed.</exception>
    /// <exception cref="BarrierBrokenException">The barrier is broken, or broke or was reset while this participant waited (see <see cref="Abort"/>, <see cref="Reset"/>, <see cref="PostPhaseAction"/>).</exception>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public void SignalAndWait(CancellationToken cancellationToken = default) => TrySignalAndWaitCore(Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>Arrives, and waits up to <paramref name="timeout"/> for the others.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="cancellationToken">Stops waiting (the arrival is withdrawn).</param>
    /// <exception cref="TimeoutException">The phase did not complete within <paramref name="timeout"/> (a participant is slow, gone or dead); the arrival was withdrawn.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before the phase completed.</exception>
    /// <exception cref="BarrierBrokenException">The barrier is broken, or broke or was reset while this participant waited (see <see cref="Abort"/>, <see cref="Reset"/>, <see cref="PostPhaseAction"/>).</exception>
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
    /// <exception cref="BarrierBrokenException">The barrier is broken, or broke or was reset while this participant waited (see <see cref="Abort"/>, <see cref="Reset"/>, <see cref="PostPhaseAction"/>).</exception>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public bool TrySignalAndWait(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        TrySignalAndWaitCore(FutexWait.Validate(timeout), cancellationToken);

    /// <summary>Arrives, and waits asynchronously as long as it takes for the others. No thread is held while waiting.</summary>
    /// <param name="cancellationToken">Stops waiting (the arrival is withdrawn).</param>
    /// <returns>A task that completes when the phase completes.</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled before the phase completed.</exception>
    /// <exception cref="BarrierBrokenException">The barrier is broken, or broke or was reset while this participant waited (see <see cref="Abort"/>, <see cref="Reset"/>, <see cref="PostPhaseAction"/>).</exception>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public ValueTask SignalAndWaitAsync(CancellationToken cancellationToken = default) => SignalAndWaitAsync(Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>Arrives, and waits asynchronously up to <paramref name="timeout"/> for the others.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="cancellationToken">Stops waiting (the arrival is withdrawn).</param>
    /// <returns>A task that completes when the phase completes.</returns>
    /// <exception cref="TimeoutException">The phase did not complete within <paramref name="timeout"/>; the arrival was withdrawn.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before the phase completed.</exception>
    /// <exception cref="BarrierBrokenException">The barrier is broken, or broke or was reset while this participant waited (see <see cref="Abort"/>, <see cref="Reset"/>, <see cref="PostPhaseAction"/>).</exception>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public ValueTask SignalAndWaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        AsyncResults.OrThrow(TrySignalAndWaitAsync(timeout, cancellationToken), () => TimedOut(timeout));

    /// <summary>Arrives, and waits asynchronously up to <paramref name="timeout"/> for the others. No thread is held while waiting.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Stops waiting (the arrival is withdrawn).</param>
    /// <returns>True when the phase completed; false when the time-out passed.</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled before the phase completed.</exception>
    /// <exception cref="BarrierBrokenException">The barrier is broken, or broke or was reset while this participant waited (see <see cref="Abort"/>, <see cref="Reset"/>, <see cref="PostPhaseAction"/>).</exception>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public ValueTask<bool> TrySignalAndWaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        FutexWait.Validate(timeout);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<bool>(cancellationToken);
        }
        var wait = new BarrierArrival(this);
        Task<bool> waiting = FutexWaiter.WaitAsync(wait, timeout, cancellationToken);
        if (waiting.IsCompletedSuccessfully)
        {
            // Arrived last, or found the barrier broken: no need for an async state machine.
            return new ValueTask<bool>(wait.SettleAsync(waiting.Result));
        }
        return AsyncResults.ThenAsync(waiting, wait.SettleAsync);
    }

    /// <summary>
    /// Breaks the barrier, like Python's <c>Barrier.abort()</c>: every participant waiting, in every
    /// process, and every later arrival gets a <see cref="BarrierBrokenException"/> until
    /// <see cref="Reset"/> is called. Use it to release the others when this participant cannot
    /// carry on (after a time-out or an error). Calling it on a broken barrier does nothing.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public void Abort() => Transition(BarrierState.Abort);

    /// <summary>
    /// Returns the barrier to its initial state for its current participant count, like Python's
    /// <c>Barrier.reset()</c>: a broken barrier can be used again, and participants waiting in the
    /// current phase, in every process, get a <see cref="BarrierBrokenException"/> (their arrivals
    /// are dropped). On a barrier that is not broken and has no arrivals, it does nothing.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public void Reset() => Transition(BarrierState.Reset);

    /// <summary>Moves the state word by <paramref name="next"/> (unchanged: nothing to do) and wakes every waiter if it moved.</summary>
    private void Transition(Func<long, long> next)
    {
        using SyncMemory.UseScope use = _shared.EnterScope();
        long state = Volatile.Read(ref _shared.State->Word);
        while (true)
        {
            long wanted = next(state);
            if (wanted == state)
            {
                return;
            }
            long seen = Interlocked.CompareExchange(ref _shared.State->Word, wanted, state);
            if (seen == state)
            {
                Libc.FutexWake(BarrierState.PhaseWordOf(_shared.State), int.MaxValue);
                return;
            }
            state = seen;
        }
    }

    /// <summary>
    /// Lowers the participant count by one: for a participant that left or died. If everyone else
    /// has already arrived, this completes the phase.
    /// </summary>
    /// <exception cref="InvalidOperationException">Only one participant is left, or more participants have arrived in this phase than would remain.</exception>
    /// <exception cref="ObjectDisposedException">The barrier was disposed.</exception>
    public void RemoveParticipant()
    {
        using SyncMemory.UseScope use = _shared.EnterScope();
        long state = Volatile.Read(ref _shared.State->Word);
        while (true)
        {
            long next = BarrierState.RemoveOne(state, out bool completes);
            long seen = Interlocked.CompareExchange(ref _shared.State->Word, next, state);
            if (seen == state)
            {
                if (completes)
                {
                    Libc.FutexWake(BarrierState.PhaseWordOf(_shared.State), int.MaxValue);
                }
                return;
            }
            state = seen;
        }
    }

    private bool TrySignalAndWaitCore(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var wait = new BarrierArrival(this);
        if (!wait.Block(timeout, cancellationToken))
        {
            return false;
        }
        if (wait.IsPending)
        {
            // Timed out or cancelled while the post-phase action ran: the phase is complete, its outcome not yet known.
            wait = wait.Follow();
            wait.Block(Timeout.InfiniteTimeSpan, CancellationToken.None);
        }
        return wait.Settle();
    }

    private long Read() => _shared.Read(&_shared.State->Word);

    /// <inheritdoc/>
    public override string ToString()
    {
        if (!_shared.TryEnter())
        {
            return "SharedBarrier (disposed)";
        }
        try
        {
            return _shared.Describe(this, BarrierState.Describe(Volatile.Read(ref _shared.State->Word)));
        }
        finally
        {
            _shared.Exit();
        }
    }

    private static TimeoutException TimedOut(TimeSpan timeout) =>
        new($"The SharedBarrier's phase did not complete within {timeout.TotalMilliseconds:0.#} ms: a participant is slow, has not come, or died " +
            "(a dead participant can be removed with RemoveParticipant). This arrival was withdrawn.");
}
