using System.Runtime.InteropServices;
using Multiprocessing.Interop;
using Multiprocessing.Payload;
using Multiprocessing.Sharing;
using Multiprocessing.Synchronization;

namespace Multiprocessing;

/// <summary>
/// A counting semaphore shared between processes, shaped like <see cref="SemaphoreSlim"/> (and
/// Python's <c>multiprocessing.BoundedSemaphore</c>): <see cref="Wait(CancellationToken)"/> takes a
/// permit, waiting while there is none; <see cref="Release(int)"/> returns permits.
/// </summary>
/// <remarks>
/// <para>The count is a futex word: taking or returning a permit is one compare-and-swap, and only a
/// release that finds waiters makes a wake system call. Async waits hold no thread.</para>
/// <para>Permits have no owner. If a process dies between <c>Wait</c> and <c>Release</c>, its permits
/// are gone: the count stays lower until someone calls <see cref="Release(int)"/> on its behalf.
/// Waiters with a time-out get a <see cref="TimeoutException"/> (or false from <c>TryWait</c>) rather
/// than waiting for ever; a waiter without one waits until a permit comes back. Where a dead
/// holder must be detected, use a <see cref="SharedLock"/>, whose ownership is tracked.</para>
/// <para>Disposing the object that created the semaphore closes it in every process: waiters get
/// <see cref="ObjectDisposedException"/>.</para>
/// </remarks>
public sealed unsafe class SharedSemaphore : SharedObject, ISharedObjectFactory<SharedSemaphore>
{
    private readonly FutexPrimitive<SemaphoreState> _shared;

    private SharedSemaphore(FutexPrimitive<SemaphoreState> shared)
        : base(shared.Segment, holder: shared)
    {
        _shared = shared;
        MaximumCount = shared.State->Maximum;
    }

    /// <summary>Creates a semaphore.</summary>
    /// <param name="initialCount">The permits available at first.</param>
    /// <param name="maximumCount">The most permits there can be; <see cref="Release(int)"/> beyond it throws <see cref="SemaphoreFullException"/>.</param>
    /// <param name="name">A name by which other programs of this user can <see cref="Open"/> it while this object lives; null for none.</param>
    /// <returns>The semaphore; dispose it to close it in every process.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="initialCount"/> is negative or above <paramref name="maximumCount"/>, or <paramref name="maximumCount"/> is not positive.</exception>
    public static SharedSemaphore Create(int initialCount, int maximumCount = int.MaxValue, string? name = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maximumCount);
        ArgumentOutOfRangeException.ThrowIfNegative(initialCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(initialCount, maximumCount);
        return new(FutexPrimitive<SemaphoreState>.Create(name, new SemaphoreState { Count = initialCount, Maximum = maximumCount }));
    }

    /// <summary>Opens the semaphore another process created with <paramref name="name"/>.</summary>
    /// <param name="name">The name it was created with.</param>
    /// <returns>A semaphore over the same count.</returns>
    /// <exception cref="SharedMemoryException">No live process holds that name, or it names something else.</exception>
    public static SharedSemaphore Open(string name) => new(FutexPrimitive<SemaphoreState>.Open(name));

    static SharedSemaphore ISharedObjectFactory<SharedSemaphore>.Attach(SharedSegment segment, bool readOnly, ref PayloadReader reader) =>
        new(FutexPrimitive<SemaphoreState>.Attach(segment, readOnly));

    /// <summary>How many waits (in every process) are counted as waiting now: for tests that must know a waiter is asleep.</summary>
    internal int WaiterCount => _shared.Read(&_shared.State->Waiters);

    /// <summary>The most permits the semaphore can hold.</summary>
    public int MaximumCount { get; }

    /// <summary>The permits available now (a snapshot: other processes change it at any time).</summary>
    /// <exception cref="ObjectDisposedException">The semaphore was disposed.</exception>
    public int CurrentCount => _shared.Read(&_shared.State->Count);

    /// <summary>Takes a permit, waiting as long as it takes.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <exception cref="OperationCanceledException">The token was cancelled before a permit was taken.</exception>
    /// <exception cref="ObjectDisposedException">The semaphore was disposed.</exception>
    public void Wait(CancellationToken cancellationToken = default) => TryWaitCore(Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>Takes a permit, waiting up to <paramref name="timeout"/>.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <exception cref="TimeoutException">No permit came within <paramref name="timeout"/>.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before a permit was taken.</exception>
    /// <exception cref="ObjectDisposedException">The semaphore was disposed.</exception>
    public void Wait(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (!TryWaitCore(FutexWait.Validate(timeout), cancellationToken))
        {
            throw TimedOut(timeout);
        }
    }

    /// <summary>Takes a permit if one is available now.</summary>
    /// <returns>Whether a permit was taken.</returns>
    /// <exception cref="ObjectDisposedException">The semaphore was disposed.</exception>
    public bool TryWait() => TryWaitCore(TimeSpan.Zero, default);

    /// <summary>Takes a permit, waiting up to <paramref name="timeout"/>.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>Whether a permit was taken (false: the time-out passed).</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled before a permit was taken.</exception>
    /// <exception cref="ObjectDisposedException">The semaphore was disposed.</exception>
    public bool TryWait(TimeSpan timeout, CancellationToken cancellationToken = default) => TryWaitCore(FutexWait.Validate(timeout), cancellationToken);

    /// <summary>Takes a permit asynchronously, waiting as long as it takes. No thread is held while waiting.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when a permit is taken.</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled before a permit was taken.</exception>
    /// <exception cref="ObjectDisposedException">The semaphore was disposed.</exception>
    public ValueTask WaitAsync(CancellationToken cancellationToken = default) => WaitAsync(Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>Takes a permit asynchronously, waiting up to <paramref name="timeout"/>.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when a permit is taken.</returns>
    /// <exception cref="TimeoutException">No permit came within <paramref name="timeout"/>.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before a permit was taken.</exception>
    /// <exception cref="ObjectDisposedException">The semaphore was disposed.</exception>
    public ValueTask WaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        AsyncResults.OrThrow(TryWaitAsync(timeout, cancellationToken), () => TimedOut(timeout));

    /// <summary>Takes a permit asynchronously, waiting up to <paramref name="timeout"/>. No thread is held while waiting.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>Whether a permit was taken.</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled before a permit was taken.</exception>
    /// <exception cref="ObjectDisposedException">The semaphore was disposed.</exception>
    public ValueTask<bool> TryWaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        FutexWait.Validate(timeout);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<bool>(cancellationToken);
        }
        return TryTakeNow() ? new ValueTask<bool>(true) : new ValueTask<bool>(FutexWaiter.WaitAsync(new PermitWait(this), timeout, cancellationToken));
    }

    /// <summary>Returns one permit.</summary>
    /// <returns>The count before the release.</returns>
    /// <exception cref="SemaphoreFullException">The semaphore already holds <see cref="MaximumCount"/> permits.</exception>
    /// <exception cref="ObjectDisposedException">The semaphore was disposed.</exception>
    public int Release() => Release(1);

    /// <summary>Returns <paramref name="releaseCount"/> permits, waking as many waiters.</summary>
    /// <param name="releaseCount">How many permits to return.</param>
    /// <returns>The count before the release.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="releaseCount"/> is not positive.</exception>
    /// <exception cref="SemaphoreFullException">The count would exceed <see cref="MaximumCount"/>; nothing is released.</exception>
    /// <exception cref="ObjectDisposedException">The semaphore was disposed.</exception>
    public int Release(int releaseCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(releaseCount);
        using SyncMemory.UseScope use = _shared.EnterScope();
        int count = Volatile.Read(ref _shared.State->Count);
        while (true)
        {
            if (releaseCount > MaximumCount - count)
            {
                throw new SemaphoreFullException(
                    $"Releasing {releaseCount} permit(s) would take the SharedSemaphore past its maximum of {MaximumCount} (it holds {count}): " +
                    "more releases than waits.");
            }
            int seen = Interlocked.CompareExchange(ref _shared.State->Count, count + releaseCount, count);
            if (seen == count)
            {
                break;
            }
            count = seen;
        }
        if (Volatile.Read(ref _shared.State->Waiters) > 0)
        {
            Libc.FutexWake(&_shared.State->Count, releaseCount);
        }
        return count;
    }

    private bool TryWaitCore(TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return TryTakeNow() || (timeout != TimeSpan.Zero && new PermitWait(this).Block(timeout, cancellationToken));
    }

    /// <summary>The uncontended path: one compare-and-swap, no system call, no allocation.</summary>
    private bool TryTakeNow()
    {
        using SyncMemory.UseScope use = _shared.EnterScope();
        return TryTakeOne(out _);
    }

    private bool TryTakeOne(out int observed)
    {
        int count = Volatile.Read(ref _shared.State->Count);
        while (count > 0)
        {
            int seen = Interlocked.CompareExchange(ref _shared.State->Count, count - 1, count);
            if (seen == count)
            {
                observed = count;
                return true;
            }
            count = seen;
        }
        observed = count;
        return false;
    }

    /// <inheritdoc/>
    public override string ToString() => _shared.Describe(this, $"(max {MaximumCount})");

    private static TimeoutException TimedOut(TimeSpan timeout) =>
        new($"No SharedSemaphore permit became available within {timeout.TotalMilliseconds:0.#} ms.");

    private sealed class PermitWait(SharedSemaphore owner) : FutexWait(owner._shared, &owner._shared.State->Count, &owner._shared.State->Waiters)
    {
        protected override bool TryTake(out int observed) => owner.TryTakeOne(out observed);

        protected override bool OnWithdraw()
        {
            // A release may have woken us rather than a waiter that stays: pass the wake on.
            if (Volatile.Read(ref owner._shared.State->Count) > 0 && Volatile.Read(ref owner._shared.State->Waiters) > 0)
            {
                Libc.FutexWake(&owner._shared.State->Count, 1);
            }
            return false;
        }
    }

    /// <summary>The semaphore in shared memory.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 16)]
    private struct SemaphoreState : ISyncState
    {
        /// <summary>The permits: the futex word waiters sleep on.</summary>
        public int Count;
        public int Waiters;
        public int Maximum;

        public static SyncLayout Layout { get; } = SyncLayout.Of<SemaphoreState>(nameof(SharedSemaphore), "SharedSemaphore:1", 0);
    }
}
