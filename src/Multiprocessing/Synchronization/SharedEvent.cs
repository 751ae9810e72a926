using System.Runtime.InteropServices;
using Multiprocessing.Interop;
using Multiprocessing.Payload;
using Multiprocessing.Sharing;
using Multiprocessing.Synchronization;

namespace Multiprocessing;

/// <summary>
/// An event shared between processes: manual-reset like <see cref="ManualResetEventSlim"/> (and
/// Python's <c>multiprocessing.Event</c>), or auto-reset like <see cref="AutoResetEvent"/>.
/// </summary>
/// <remarks>
/// <para>The state is one futex word: the "set" bit and a generation that every
/// <see cref="Set"/> of a manual-reset event advances. A waiter that was waiting when the event was
/// set is released even if the event is reset again before it runs (Python's semantics; a
/// <c>Set</c> followed at once by <c>Reset</c> is a pulse that releases everyone waiting).
/// An auto-reset event releases one waiter per <c>Set</c> and resets itself.</para>
/// <para>An event has no owner, so a process that dies loses nothing but its own wait. Disposing the
/// object that created the event closes it in every process: waiters get
/// <see cref="ObjectDisposedException"/>.</para>
/// </remarks>
public sealed unsafe class SharedEvent : SharedObject, ISharedObjectFactory<SharedEvent>
{
    private const int SetBit = 1;
    private const int Generation = 2;

    private readonly FutexPrimitive<EventState> _shared;

    private SharedEvent(FutexPrimitive<EventState> shared)
        : base(shared.Segment, holder: shared)
    {
        _shared = shared;
        IsManualReset = shared.State->ManualReset != 0;
    }

    /// <summary>Creates an event.</summary>
    /// <param name="manualReset">True: once set, it releases every waiter until <see cref="Reset"/>. False: each <see cref="Set"/> releases one waiter and resets.</param>
    /// <param name="initialState">Whether it starts set.</param>
    /// <param name="name">A name by which other programs of this user can <see cref="Open"/> it while this object lives; null for none.</param>
    /// <returns>The event; dispose it to close it in every process.</returns>
    public static SharedEvent Create(bool manualReset, bool initialState = false, string? name = null)
    {
        return new(FutexPrimitive<EventState>.Create(name, new EventState { Word = initialState ? SetBit : 0, ManualReset = manualReset ? 1 : 0 }));
    }

    /// <summary>Opens the event another process created with <paramref name="name"/>.</summary>
    /// <param name="name">The name it was created with.</param>
    /// <returns>An event over the same state.</returns>
    /// <exception cref="SharedMemoryException">No live process holds that name, or it names something else.</exception>
    public static SharedEvent Open(string name) => new(FutexPrimitive<EventState>.Open(name));

    static SharedEvent ISharedObjectFactory<SharedEvent>.Attach(SharedSegment segment, bool readOnly, ref PayloadReader reader) =>
        new(FutexPrimitive<EventState>.Attach(segment, readOnly));

    /// <summary>How many waits (in every process) are counted as waiting now: for tests that must know a waiter is asleep.</summary>
    internal int WaiterCount => _shared.Read(&_shared.State->Waiters);

    /// <summary>Whether the event is manual-reset (false: auto-reset).</summary>
    public bool IsManualReset { get; }

    /// <summary>Whether the event is set now (a snapshot).</summary>
    /// <exception cref="ObjectDisposedException">The event was disposed.</exception>
    public bool IsSet => (_shared.Read(&_shared.State->Word) & SetBit) != 0;

    /// <summary>Sets the event: a manual-reset event releases every waiter; an auto-reset event releases one.</summary>
    /// <exception cref="ObjectDisposedException">The event was disposed.</exception>
    public void Set()
    {
        using SyncMemory.UseScope use = _shared.EnterScope();
        int state = Volatile.Read(ref _shared.State->Word);
        while ((state & SetBit) == 0)
        {
            // Manual reset: a new generation, so that waiters of this Set are released even if a Reset follows at once.
            int next = IsManualReset ? (state & ~SetBit) + Generation | SetBit : state | SetBit;
            int seen = Interlocked.CompareExchange(ref _shared.State->Word, next, state);
            if (seen == state)
            {
                if (Volatile.Read(ref _shared.State->Waiters) > 0)
                {
                    Libc.FutexWake(&_shared.State->Word, IsManualReset ? int.MaxValue : 1);
                }
                return;
            }
            state = seen;
        }
    }

    /// <summary>Resets the event, so that waiters wait.</summary>
    /// <exception cref="ObjectDisposedException">The event was disposed.</exception>
    public void Reset()
    {
        using SyncMemory.UseScope use = _shared.EnterScope();
        Interlocked.And(ref _shared.State->Word, ~SetBit);
    }

    /// <summary>Waits as long as it takes for the event to be set.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <exception cref="OperationCanceledException">The token was cancelled first.</exception>
    /// <exception cref="ObjectDisposedException">The event was disposed.</exception>
    public void Wait(CancellationToken cancellationToken = default) => TryWaitCore(Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>Waits up to <paramref name="timeout"/> for the event to be set.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <exception cref="TimeoutException">The event was not set within <paramref name="timeout"/>.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled first.</exception>
    /// <exception cref="ObjectDisposedException">The event was disposed.</exception>
    public void Wait(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (!TryWaitCore(FutexWait.Validate(timeout), cancellationToken))
        {
            throw TimedOut(timeout);
        }
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the event to be set.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>Whether the event was set (false: the time-out passed).</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled first.</exception>
    /// <exception cref="ObjectDisposedException">The event was disposed.</exception>
    public bool TryWait(TimeSpan timeout, CancellationToken cancellationToken = default) => TryWaitCore(FutexWait.Validate(timeout), cancellationToken);

    /// <summary>Waits asynchronously, as long as it takes, for the event. No thread is held while waiting.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when the event is set.</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled first.</exception>
    /// <exception cref="ObjectDisposedException">The event was disposed.</exception>
    public ValueTask WaitAsync(CancellationToken cancellationToken = default) => WaitAsync(Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>Waits asynchronously up to <paramref name="timeout"/> for the event.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when the event is set.</returns>
    /// <exception cref="TimeoutException">The event was not set within <paramref name="timeout"/>.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled first.</exception>
    /// <exception cref="ObjectDisposedException">The event was disposed.</exception>
    public ValueTask WaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        AsyncResults.OrThrow(TryWaitAsync(timeout, cancellationToken), () => TimedOut(timeout));

    /// <summary>Waits asynchronously up to <paramref name="timeout"/> for the event. No thread is held while waiting.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>Whether the event was set.</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled first.</exception>
    /// <exception cref="ObjectDisposedException">The event was disposed.</exception>
    public ValueTask<bool> TryWaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        FutexWait.Validate(timeout);
        return new ValueTask<bool>(FutexWaiter.WaitAsync(new SetWait(this), timeout, cancellationToken));
    }

    private bool TryWaitCore(TimeSpan timeout, CancellationToken cancellationToken) => new SetWait(this).Block(timeout, cancellationToken);

    /// <inheritdoc/>
    public override string ToString() => _shared.Describe(this, IsManualReset ? "(manual reset)" : "(auto reset)");

    private static TimeoutException TimedOut(TimeSpan timeout) =>
        new($"The SharedEvent was not set within {timeout.TotalMilliseconds:0.#} ms.");

    private sealed class SetWait(SharedEvent owner) : FutexWait(owner._shared, &owner._shared.State->Word, &owner._shared.State->Waiters)
    {
        private int _startGeneration;

        protected override void OnBegin() => _startGeneration = Volatile.Read(ref owner._shared.State->Word) & ~SetBit;

        protected override bool TryTake(out int observed)
        {
            int state = Volatile.Read(ref owner._shared.State->Word);
            observed = state;
            if (owner.IsManualReset)
            {
                return (state & SetBit) != 0 || (state & ~SetBit) != _startGeneration;
            }
            while ((state & SetBit) != 0)
            {
                int seen = Interlocked.CompareExchange(ref owner._shared.State->Word, state & ~SetBit, state);
                if (seen == state)
                {
                    return true;
                }
                state = seen;
            }
            observed = state;
            return false;
        }

        protected override bool OnWithdraw()
        {
            int state = Volatile.Read(ref owner._shared.State->Word);
            if (owner.IsManualReset)
            {
                return (state & SetBit) != 0 || (state & ~SetBit) != _startGeneration;
            }
            // An auto-reset Set wakes one waiter; if that was us, the next waiter must get it.
            if ((state & SetBit) != 0 && Volatile.Read(ref owner._shared.State->Waiters) > 0)
            {
                Libc.FutexWake(&owner._shared.State->Word, 1);
            }
            return false;
        }
    }

    /// <summary>The event in shared memory.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 16)]
    private struct EventState : ISyncState
    {
        /// <summary>The set bit and the generation: the futex word waiters sleep on.</summary>
        public int Word;
        public int Waiters;
        public int ManualReset;

        public static SyncLayout Layout { get; } = SyncLayout.Of<EventState>(nameof(SharedEvent), "SharedEvent:1", 0);
    }
}
