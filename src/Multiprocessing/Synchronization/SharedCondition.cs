using System.Runtime.InteropServices;
using Multiprocessing.Interop;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Sharing;
using Multiprocessing.Synchronization;

namespace Multiprocessing;

/// <summary>
/// A condition variable shared between processes, bound to a <see cref="SharedLock"/>: the
/// cross-process <see cref="Monitor.Wait(object)"/> / <see cref="Monitor.Pulse"/> (Python's
/// <c>multiprocessing.Condition</c>). A waiter holds the lock, calls <see cref="Wait(LockReleaser, CancellationToken)"/>,
/// which releases the lock, sleeps until pulsed, and takes the lock again before returning.
/// </summary>
/// <remarks>
/// <para>As with Monitor, wake-ups say "look again", not "your condition is true": wait in a loop
/// that re-checks the shared state. Which waiter <see cref="Pulse"/> wakes is unspecified.</para>
/// <para>A wait always returns (or throws) holding the lock again, even on time-out, cancellation
/// or disposal of the condition; if the lock's owner died meanwhile, the releaser's
/// <see cref="LockReleaser.IsAbandoned"/> becomes true. A process that dies while waiting is still
/// counted as a waiter, so a later <see cref="PulseAll"/> may leave one spare wake-up that releases
/// a future waiter early; the re-check loop absorbs it.</para>
/// <para>Disposing the object that created the condition closes it in every process (the lock stays
/// open): waiters get <see cref="ObjectDisposedException"/>, after taking the lock back.</para>
/// </remarks>
/// <example>
/// <code>
/// using var held = gate.Acquire();
/// while (queue.Value == 0) { ready.Wait(held); }
/// </code>
/// </example>
public sealed unsafe class SharedCondition : SharedObject, ISharedObjectFactory<SharedCondition>
{
    private const long OneToken = 1L << 32;

    private readonly FutexPrimitive<ConditionState> _shared;

    private SharedCondition(FutexPrimitive<ConditionState> shared, SharedLock @lock)
        : base(shared.Segment, holder: shared)
    {
        _shared = shared;
        Lock = @lock;
    }

    /// <summary>How many waits (in every process) are counted as waiting now: for tests that must know a waiter is asleep.</summary>
    internal int WaiterCount => (int)(uint)_shared.Read(&_shared.State->Counts);

    /// <summary>The lock waiters hold, and that <see cref="Pulse"/> requires.</summary>
    public SharedLock Lock { get; }

    /// <summary>Creates a condition bound to <paramref name="lock"/>.</summary>
    /// <param name="lock">The lock that guards the shared state the condition is about.</param>
    /// <param name="name">A name by which other programs of this user can <see cref="Open"/> it while this object lives; null for none.</param>
    /// <returns>The condition; dispose it to close it in every process (the lock stays open).</returns>
    /// <exception cref="ObjectDisposedException">The lock was disposed.</exception>
    public static SharedCondition Create(SharedLock @lock, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(@lock);
        var descriptor = new PayloadWriter(64);
        CodecProvider.Default.Get<SharedLock>().Write(descriptor, @lock);
        FutexPrimitive<ConditionState> shared = FutexPrimitive<ConditionState>.Create(name, new ConditionState { LockLength = descriptor.Position });
        descriptor.WrittenSpan.CopyTo(new Span<byte>(shared.State->LockDescriptor, ConditionState.DescriptorCapacity));
        return new SharedCondition(shared, @lock);
    }

    /// <summary>Opens the condition another process created with <paramref name="name"/>, and the lock it is bound to.</summary>
    /// <param name="name">The name it was created with.</param>
    /// <returns>A condition over the same state, whose <see cref="Lock"/> is the same lock.</returns>
    /// <exception cref="SharedMemoryException">No live process holds that name, it names something else, or the lock's holder is gone.</exception>
    public static SharedCondition Open(string name)
    {
        FutexPrimitive<ConditionState> shared = FutexPrimitive<ConditionState>.Open(name);
        try
        {
            int length = Math.Clamp(shared.State->LockLength, 0, ConditionState.DescriptorCapacity);
            var reader = new PayloadReader(new ReadOnlySpan<byte>(shared.State->LockDescriptor, length));
            SharedLock @lock = CodecProvider.Default.Get<SharedLock>().Read(ref reader)
                ?? throw new SharedMemoryException($"The SharedCondition named '{name}' has no lock.");
            return new SharedCondition(shared, @lock);
        }
        catch
        {
            shared.Segment.Dispose();
            throw;
        }
    }

    static SharedCondition ISharedObjectFactory<SharedCondition>.Attach(SharedSegment segment, bool readOnly, ref PayloadReader reader)
    {
        FutexPrimitive<ConditionState> shared = FutexPrimitive<ConditionState>.Attach(segment, readOnly);
        SharedLock @lock = CodecProvider.Default.Get<SharedLock>().Read(ref reader)
            ?? throw new InvalidDataException("A SharedCondition arrived without its lock.");
        return new SharedCondition(shared, @lock);
    }

    private protected override void WriteState(PayloadWriter writer) => CodecProvider.Default.Get<SharedLock>().Write(writer, Lock);

    /// <summary>Releases the lock, waits as long as it takes to be pulsed, and takes the lock again.</summary>
    /// <param name="held">The releaser of this condition's lock (from <c>Lock.Acquire…</c>, or from any object over the same lock).</param>
    /// <param name="cancellationToken">Stops waiting (the lock is taken again before the exception).</param>
    /// <exception cref="SynchronizationLockException"><paramref name="held"/> is released, or belongs to another lock.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before a pulse.</exception>
    /// <exception cref="ObjectDisposedException">The condition (or its lock) was disposed.</exception>
    public void Wait(LockReleaser held, CancellationToken cancellationToken = default) => TryWaitCore(held, Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>Releases the lock, waits up to <paramref name="timeout"/> to be pulsed, and takes the lock again.</summary>
    /// <param name="held">The releaser of this condition's lock.</param>
    /// <param name="timeout">How long to wait for a pulse; <see cref="Timeout.InfiniteTimeSpan"/> for ever. Taking the lock back is not bounded by it.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <exception cref="TimeoutException">No pulse came within <paramref name="timeout"/> (the lock is held again).</exception>
    /// <exception cref="SynchronizationLockException"><paramref name="held"/> is released, or belongs to another lock.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before a pulse.</exception>
    /// <exception cref="ObjectDisposedException">The condition (or its lock) was disposed.</exception>
    public void Wait(LockReleaser held, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (!TryWaitCore(held, FutexWait.Validate(timeout), cancellationToken))
        {
            throw TimedOut(timeout);
        }
    }

    /// <summary>Releases the lock, waits up to <paramref name="timeout"/> to be pulsed, and takes the lock again.</summary>
    /// <param name="held">The releaser of this condition's lock.</param>
    /// <param name="timeout">How long to wait for a pulse.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>True if pulsed, false if the time-out passed; either way the lock is held again.</returns>
    /// <exception cref="SynchronizationLockException"><paramref name="held"/> is released, or belongs to another lock.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before a pulse.</exception>
    /// <exception cref="ObjectDisposedException">The condition (or its lock) was disposed.</exception>
    public bool TryWait(LockReleaser held, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        TryWaitCore(held, FutexWait.Validate(timeout), cancellationToken);

    /// <summary>Asynchronously releases the lock, waits as long as it takes to be pulsed, and takes the lock again. No thread is held while waiting.</summary>
    /// <param name="held">The releaser of this condition's lock.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes, holding the lock again, when pulsed.</returns>
    /// <exception cref="SynchronizationLockException"><paramref name="held"/> is released, or belongs to another lock.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before a pulse.</exception>
    /// <exception cref="ObjectDisposedException">The condition (or its lock) was disposed.</exception>
    public ValueTask WaitAsync(LockReleaser held, CancellationToken cancellationToken = default) => WaitAsync(held, Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>Asynchronously releases the lock, waits up to <paramref name="timeout"/> to be pulsed, and takes the lock again.</summary>
    /// <param name="held">The releaser of this condition's lock.</param>
    /// <param name="timeout">How long to wait for a pulse; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes, holding the lock again, when pulsed.</returns>
    /// <exception cref="TimeoutException">No pulse came within <paramref name="timeout"/> (the lock is held again).</exception>
    /// <exception cref="SynchronizationLockException"><paramref name="held"/> is released, or belongs to another lock.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before a pulse.</exception>
    /// <exception cref="ObjectDisposedException">The condition (or its lock) was disposed.</exception>
    public ValueTask WaitAsync(LockReleaser held, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        AsyncResults.OrThrow(TryWaitAsync(held, timeout, cancellationToken), () => TimedOut(timeout));

    /// <summary>Asynchronously releases the lock, waits up to <paramref name="timeout"/> to be pulsed, and takes the lock again. No thread is held while waiting.</summary>
    /// <param name="held">The releaser of this condition's lock.</param>
    /// <param name="timeout">How long to wait for a pulse.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>True if pulsed, false if the time-out passed; either way the lock is held again.</returns>
    /// <exception cref="SynchronizationLockException"><paramref name="held"/> is released, or belongs to another lock.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before a pulse.</exception>
    /// <exception cref="ObjectDisposedException">The condition (or its lock) was disposed.</exception>
    public ValueTask<bool> TryWaitAsync(LockReleaser held, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        FutexWait.Validate(timeout);
        EnsureHolds(held);
        var wait = new NotifyWait(this, held.Lock);
        Task<bool> waiting;
        try
        {
            waiting = FutexWaiter.WaitAsync(wait, timeout, cancellationToken);
        }
        catch when (wait.ReleasedLock)
        {
            held.IsAbandoned |= held.Lock.Reacquire();
            throw;
        }
        return AsyncResults.ThenReacquire(waiting, held, () => wait.ReleasedLock);
    }

    /// <summary>Wakes one waiter, if any. This process must hold the lock.</summary>
    /// <exception cref="SynchronizationLockException">This process does not hold <see cref="Lock"/>.</exception>
    /// <exception cref="ObjectDisposedException">The condition was disposed.</exception>
    public void Pulse() => Notify(all: false);

    /// <summary>Wakes every waiter. This process must hold the lock.</summary>
    /// <exception cref="SynchronizationLockException">This process does not hold <see cref="Lock"/>.</exception>
    /// <exception cref="ObjectDisposedException">The condition was disposed.</exception>
    public void PulseAll() => Notify(all: true);

    private void Notify(bool all)
    {
        // Entered first: a disposed condition says so, whether or not the lock is held.
        using SyncMemory.UseScope use = _shared.EnterScope();
        if (!Lock.IsHeldByCurrentProcess)
        {
            throw new SynchronizationLockException("Pulse and PulseAll need the condition's lock: acquire it first (as Monitor.Pulse needs the monitor).");
        }
        long counts = Volatile.Read(ref _shared.State->Counts);
        while (true)
        {
            long waiters = (uint)counts;
            long tokens = counts >>> 32;
            if (tokens >= waiters)
            {
                return;
            }
            long next = all ? (waiters << 32) | waiters : counts + OneToken;
            long seen = Interlocked.CompareExchange(ref _shared.State->Counts, next, counts);
            if (seen == counts)
            {
                break;
            }
            counts = seen;
        }
        // Tokens first, then the sequence: a waiter that sees the new sequence also sees the token.
        Interlocked.Increment(ref _shared.State->Sequence);
        Libc.FutexWake(&_shared.State->Sequence, all ? int.MaxValue : 1);
    }

    private bool TryWaitCore(LockReleaser held, TimeSpan timeout, CancellationToken cancellationToken)
    {
        EnsureHolds(held);
        var wait = new NotifyWait(this, held.Lock);
        try
        {
            return wait.Block(timeout, cancellationToken);
        }
        finally
        {
            if (wait.ReleasedLock)
            {
                held.IsAbandoned |= held.Lock.Reacquire();
            }
        }
    }

    private void EnsureHolds(LockReleaser held)
    {
        ArgumentNullException.ThrowIfNull(held);
        if (!held.IsHeld)
        {
            throw new SynchronizationLockException("The releaser passed to Wait was already disposed: the lock must be held to wait on a condition.");
        }
        if (held.Lock.Segment.Identity.Device != Lock.Segment.Identity.Device || held.Lock.Segment.Identity.Inode != Lock.Segment.Identity.Inode)
        {
            throw new SynchronizationLockException("The releaser passed to Wait belongs to another lock than this condition's.");
        }
    }

    /// <inheritdoc/>
    public override string ToString() => _shared.Describe(this);

    private static TimeoutException TimedOut(TimeSpan timeout) =>
        new($"The SharedCondition was not pulsed within {timeout.TotalMilliseconds:0.#} ms.");

    private sealed class NotifyWait(SharedCondition owner, SharedLock @lock) : FutexWait(owner._shared, &owner._shared.State->Sequence, waiters: null)
    {
        public bool ReleasedLock { get; private set; }

        protected override void OnBegin()
        {
            // Count ourselves before letting go of the lock: a pulse after the release must see us.
            Interlocked.Increment(ref owner._shared.State->Counts);
            @lock.Release();
            ReleasedLock = true;
        }

        protected override bool TryTake(out int observed)
        {
            // The sequence before the tokens: a pulse adds its token before it bumps the sequence,
            // so either we see the token now or the sleep on this value returns at once.
            observed = Volatile.Read(ref owner._shared.State->Sequence);
            long counts = Volatile.Read(ref owner._shared.State->Counts);
            while (counts >>> 32 > 0)
            {
                long seen = Interlocked.CompareExchange(ref owner._shared.State->Counts, counts - OneToken - 1, counts);
                if (seen == counts)
                {
                    return true;
                }
                counts = seen;
            }
            return false;
        }

        protected override bool OnWithdraw()
        {
            long counts = Volatile.Read(ref owner._shared.State->Counts);
            while (true)
            {
                long waiters = (uint)counts;
                long tokens = counts >>> 32;
                // Every remaining waiter, us included, has a token: one is ours, so we were pulsed.
                bool pulsed = tokens >= waiters;
                long next = pulsed ? counts - OneToken - 1 : counts - 1;
                long seen = Interlocked.CompareExchange(ref owner._shared.State->Counts, next, counts);
                if (seen == counts)
                {
                    if (!pulsed && tokens > 0)
                    {
                        // A pulse may have woken us for a token another waiter must now take.
                        Libc.FutexWake(&owner._shared.State->Sequence, 1);
                    }
                    return pulsed;
                }
                counts = seen;
            }
        }
    }

    /// <summary>The condition in shared memory.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 128)]
    private struct ConditionState : ISyncState
    {
        public const int DescriptorCapacity = 108;

        /// <summary>Bumped by every pulse: the futex word waiters sleep on.</summary>
        public int Sequence;

        /// <summary>The waiters (low 32 bits) and pending wake tokens (high 32 bits), updated together so that tokens never exceed waiters.</summary>
        public long Counts;

        /// <summary>The lock's descriptor, so that <see cref="Open"/> can find the lock.</summary>
        public int LockLength;
        public fixed byte LockDescriptor[DescriptorCapacity];

        public static SyncLayout Layout { get; } = SyncLayout.Of<ConditionState>(nameof(SharedCondition), "SharedCondition:1", 0);
    }
}
