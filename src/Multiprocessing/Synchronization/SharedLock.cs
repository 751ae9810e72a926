using System.Diagnostics;
using System.Runtime.InteropServices;
using Multiprocessing.Interop;
using Multiprocessing.Payload;
using Multiprocessing.Sharing;
using Multiprocessing.Synchronization;

namespace Multiprocessing;

/// <summary>
/// A mutual-exclusion lock shared between processes, like Python's <c>multiprocessing.Lock</c>, but
/// it survives the death of its holder: when the process holding it is killed, the next process to
/// wait for it gets it within about a second, with <see cref="LockReleaser.IsAbandoned"/> set, instead
/// of every process waiting forever.
/// </summary>
/// <remarks>
/// <para>The lock is a 64-bit word in a shared segment: zero when free, otherwise the owner's pid
/// (low half, also the futex word) and start time (high half), which guards against a recycled pid
/// looking alive. Acquiring a free lock, and releasing one nobody waits for, is one compare-and-swap
/// and no system call. A contended acquire sleeps in the kernel (futex) and looks again at least
/// every 200 ms; once the same owner has held the lock that long, it checks through
/// <c>/proc/PID/stat</c> whether the owner still runs (so a quick hand-off never pays for that look).
/// A process that exits while holding the lock, however it exits, counts as dead; so does a zombie
/// that its parent has not reaped yet.</para>
/// <para>Ownership is per process: any thread of the owning process may release it, and it is not
/// re-entrant (a second acquire from the same process waits like any other). Pass the lock to pool
/// tasks or a <see cref="WorkerProcess"/> as an argument; they get a lock over the same word.</para>
/// <para>Disposing the object that created the lock closes it in every process: waiters anywhere get
/// <see cref="ObjectDisposedException"/>. Disposing an object that arrived in a task, or was opened
/// by name, closes it only for that object's users.</para>
/// </remarks>
/// <example>
/// <code>
/// using var gate = SharedLock.Create();
/// using (var held = await gate.AcquireAsync(TimeSpan.FromSeconds(5), ct))
/// {
///     if (held.IsAbandoned) { RepairLog(); }
///     File.AppendAllText("log.txt", line);
/// }
/// </code>
/// </example>
public sealed unsafe class SharedLock : SharedObject, ISharedObjectFactory<SharedLock>
{
    private readonly FutexPrimitive<LockState> _shared;

    private SharedLock(FutexPrimitive<LockState> shared)
        : base(shared.Segment, holder: shared) => _shared = shared;

    /// <summary>Creates a lock, free.</summary>
    /// <param name="name">A name by which other programs of this user can <see cref="Open"/> it while this object lives; null for none.</param>
    /// <returns>The lock; dispose it to close it in every process.</returns>
    /// <exception cref="SharedMemoryException">The name is taken.</exception>
    public static SharedLock Create(string? name = null) => new(FutexPrimitive<LockState>.Create(name));

    /// <summary>Opens the lock another process created with <paramref name="name"/>.</summary>
    /// <param name="name">The name it was created with.</param>
    /// <returns>A lock over the same word; disposing it does not close the lock for others.</returns>
    /// <exception cref="SharedMemoryException">No live process holds that name, or it names something else.</exception>
    public static SharedLock Open(string name) => new(FutexPrimitive<LockState>.Open(name));

    static SharedLock ISharedObjectFactory<SharedLock>.Attach(SharedSegment segment, bool readOnly, ref PayloadReader reader) =>
        new(FutexPrimitive<LockState>.Attach(segment, readOnly));

    /// <summary>How many waits (in every process) are counted as waiting now: for tests that must know a waiter is asleep.</summary>
    internal int WaiterCount => _shared.Read(&_shared.State->Waiters);

    /// <summary>The owner word, for tests that forge a dead owner.</summary>
    internal ref long OwnerWord => ref _shared.State->Owner;

    /// <summary>Whether some thread of this process holds the lock.</summary>
    /// <exception cref="ObjectDisposedException">The lock was disposed.</exception>
    public bool IsHeldByCurrentProcess => _shared.Read(&_shared.State->Owner) == ProcessIdentity.Current;

    /// <summary>Waits as long as it takes for the lock.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The releaser: dispose it to release the lock. Check <see cref="LockReleaser.IsAbandoned"/>.</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled before the lock was acquired.</exception>
    /// <exception cref="ObjectDisposedException">The lock was disposed (here, or by its creator in another process).</exception>
    public LockReleaser Acquire(CancellationToken cancellationToken = default) =>
        TryAcquireCore(Timeout.InfiniteTimeSpan, cancellationToken)!;

    /// <summary>Waits up to <paramref name="timeout"/> for the lock.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The releaser: dispose it to release the lock.</returns>
    /// <exception cref="TimeoutException">The lock was not acquired within <paramref name="timeout"/>.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before the lock was acquired.</exception>
    /// <exception cref="ObjectDisposedException">The lock was disposed.</exception>
    public LockReleaser Acquire(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        TryAcquireCore(FutexWait.Validate(timeout), cancellationToken) ?? throw TimedOut(timeout);

    /// <summary>Takes the lock if it is free (or its owner died) at once, without waiting.</summary>
    /// <returns>The releaser, or null when another live owner holds it.</returns>
    /// <exception cref="ObjectDisposedException">The lock was disposed.</exception>
    public LockReleaser? TryAcquire() => TryAcquireCore(TimeSpan.Zero, default);

    /// <summary>Waits up to <paramref name="timeout"/> for the lock.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The releaser, or null if the time-out passed first.</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled before the lock was acquired.</exception>
    /// <exception cref="ObjectDisposedException">The lock was disposed.</exception>
    public LockReleaser? TryAcquire(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        TryAcquireCore(FutexWait.Validate(timeout), cancellationToken);

    /// <summary>Waits asynchronously, as long as it takes, for the lock. No thread is held while waiting.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The releaser.</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled before the lock was acquired.</exception>
    /// <exception cref="ObjectDisposedException">The lock was disposed.</exception>
    public ValueTask<LockReleaser> AcquireAsync(CancellationToken cancellationToken = default) =>
        AcquireAsync(null, cancellationToken);

    /// <summary>Waits asynchronously up to <paramref name="timeout"/> for the lock. No thread is held while waiting.</summary>
    /// <param name="timeout">How long to wait; null or <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The releaser.</returns>
    /// <exception cref="TimeoutException">The lock was not acquired within <paramref name="timeout"/>.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before the lock was acquired.</exception>
    /// <exception cref="ObjectDisposedException">The lock was disposed.</exception>
    public ValueTask<LockReleaser> AcquireAsync(TimeSpan? timeout, CancellationToken cancellationToken = default)
    {
        TimeSpan limit = FutexWait.Validate(timeout ?? Timeout.InfiniteTimeSpan);
        ValueTask<LockReleaser?> attempt = TryAcquireAsync(limit, cancellationToken);
        if (attempt.IsCompletedSuccessfully)
        {
            return attempt.Result is { } held ? new ValueTask<LockReleaser>(held) : ValueTask.FromException<LockReleaser>(TimedOut(limit));
        }
        return AsyncResults.OrThrow(attempt, () => TimedOut(limit));
    }

    /// <summary>Waits asynchronously up to <paramref name="timeout"/> for the lock. No thread is held while waiting.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The releaser, or null if the time-out passed first.</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled before the lock was acquired.</exception>
    /// <exception cref="ObjectDisposedException">The lock was disposed.</exception>
    public ValueTask<LockReleaser?> TryAcquireAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        FutexWait.Validate(timeout);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<LockReleaser?>(cancellationToken);
        }
        if (TryClaimFree())
        {
            return new ValueTask<LockReleaser?>(new LockReleaser(this, isAbandoned: false));
        }
        var wait = new AcquireWait(this);
        return AsyncResults.Then(FutexWaiter.WaitAsync(wait, timeout, cancellationToken), acquired => acquired ? new LockReleaser(this, wait.Abandoned) : null);
    }

    private LockReleaser? TryAcquireCore(TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (TryClaimFree())
        {
            return new LockReleaser(this, isAbandoned: false);
        }
        var wait = new AcquireWait(this);
        return wait.Block(timeout, cancellationToken) ? new LockReleaser(this, wait.Abandoned) : null;
    }

    /// <summary>The uncontended path: one compare-and-swap, no system call, no allocation.</summary>
    private bool TryClaimFree()
    {
        using SyncMemory.UseScope use = _shared.EnterScope();
        return Interlocked.CompareExchange(ref _shared.State->Owner, ProcessIdentity.Current, 0) == 0;
    }

    /// <summary>Releases the lock for a releaser (or a condition wait); a no-op once the lock is closed.</summary>
    internal void Release()
    {
        if (!_shared.TryEnter())
        {
            return;
        }
        try
        {
            long owner = Interlocked.CompareExchange(ref _shared.State->Owner, 0, ProcessIdentity.Current);
            // Only a wrong verdict on our own liveness could hand our lock to someone else; never
            // free a lock another process holds.
            Debug.Assert(owner == ProcessIdentity.Current, $"Released a lock that process {ProcessIdentity.Pid(owner)} holds.");
            // The CAS is a full fence, and waiters count themselves before looking at the word,
            // so a waiter either sees the lock free or is counted here.
            if (owner == ProcessIdentity.Current && Volatile.Read(ref _shared.State->Waiters) > 0)
            {
                Libc.FutexWake((int*)&_shared.State->Owner, 1);
            }
        }
        finally
        {
            _shared.Exit();
        }
    }

    /// <summary>Re-takes the lock after a condition wait: no time-out, no cancellation, as Monitor.Wait does.</summary>
    internal bool Reacquire()
    {
        if (TryClaimFree())
        {
            return false;
        }
        var wait = new AcquireWait(this);
        wait.Block(Timeout.InfiniteTimeSpan, CancellationToken.None);
        return wait.Abandoned;
    }

    /// <summary>Re-takes the lock asynchronously after a condition wait.</summary>
    internal ValueTask<bool> ReacquireAsync()
    {
        var wait = new AcquireWait(this);
        return AsyncResults.Then(FutexWaiter.WaitAsync(wait, Timeout.InfiniteTimeSpan, CancellationToken.None), _ => wait.Abandoned);
    }

    /// <inheritdoc/>
    public override string ToString() => _shared.Describe(this);

    private static TimeoutException TimedOut(TimeSpan timeout) =>
        new($"The SharedLock was not acquired within {timeout.TotalMilliseconds:0.#} ms: another live process (or thread of this one) held it all that time.");

    /// <summary>One wait for the lock: takes it when free, or from an owner that died.</summary>
    private sealed class AcquireWait(SharedLock owner) : FutexWait(owner._shared, (int*)&owner._shared.State->Owner, &owner._shared.State->Waiters)
    {
        private long _seenOwner;
        private long _seenSince;

        public bool Abandoned { get; private set; }

        protected override bool TryTake(out int observed)
        {
            long current = Volatile.Read(ref owner._shared.State->Owner);
            observed = (int)current;
            if (current == 0)
            {
                return Interlocked.CompareExchange(ref owner._shared.State->Owner, ProcessIdentity.Current, 0) == 0;
            }
            long now = Stopwatch.GetTimestamp();
            if (current != _seenOwner)
            {
                // A new owner: give it a slice before asking whether it is alive, so the
                // contended hand-off never pays for a look at /proc.
                _seenOwner = current;
                _seenSince = now;
                return false;
            }
            if (Stopwatch.GetElapsedTime(_seenSince, now) < Slice)
            {
                return false;
            }
            _seenSince = now;
            return TryTakeFromDead(current);
        }

        /// <summary>On time-out or cancellation, one last look: an owner that died still hands the lock over.</summary>
        protected override bool OnWithdraw()
        {
            long current = Volatile.Read(ref owner._shared.State->Owner);
            if (current == 0)
            {
                if (Interlocked.CompareExchange(ref owner._shared.State->Owner, ProcessIdentity.Current, 0) == 0)
                {
                    return true;
                }
                current = Volatile.Read(ref owner._shared.State->Owner);
            }
            if (current != 0 && TryTakeFromDead(current))
            {
                return true;
            }
            // We may have consumed the wake meant for the next owner: pass it on.
            if (Volatile.Read(ref owner._shared.State->Owner) == 0 && Volatile.Read(ref owner._shared.State->Waiters) > 0)
            {
                Libc.FutexWake((int*)&owner._shared.State->Owner, 1);
            }
            return false;
        }

        private bool TryTakeFromDead(long current)
        {
            if (ProcessIdentity.IsAlive(current))
            {
                return false;
            }
            // Only one waiter wins this swap, from exactly the dead owner's value.
            if (Interlocked.CompareExchange(ref owner._shared.State->Owner, ProcessIdentity.Current, current) == current)
            {
                Abandoned = true;
                return true;
            }
            return false;
        }
    }

    /// <summary>The lock in shared memory.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 16)]
    private struct LockState : ISyncState
    {
        /// <summary>Zero when free, else the owner's <see cref="ProcessIdentity"/>, whose low half (the pid) is the futex word.</summary>
        public long Owner;
        public int Waiters;

        public static SyncLayout Layout { get; } = SyncLayout.Of<LockState>(nameof(SharedLock), "SharedLock:1", 0);
    }
}
