using System.Diagnostics;
using Multiprocessing.Interop;

namespace Multiprocessing.Synchronization;

/// <summary>
/// One wait for something in shared memory (a lock to come free, a permit, a phase to end), written
/// once and run either on the calling thread (<see cref="Run"/>) or by this process's futex waiter
/// thread (<see cref="FutexWaiter"/>). The protocol, for every primitive:
/// <list type="number">
/// <item><see cref="Begin"/> counts the waiter, so that wakers know to make the wake system call;</item>
/// <item><see cref="TryComplete"/> tries to take what is waited for, and otherwise says which value of
/// <see cref="Word"/> to sleep on; the kernel compares that value and queues the sleeper atomically,
/// so a change between the look and the sleep is never lost;</item>
/// <item>on time-out, cancellation or disposal, <see cref="Withdraw"/> uncounts the waiter and passes
/// on a wake it may have swallowed; it says whether the wait completed after all.</item>
/// </list>
/// </summary>
internal abstract unsafe class FutexWait
{
    /// <summary>
    /// The longest a waiter sleeps without looking again (its own timer for short waits, the
    /// <see cref="FutexTicker"/> for long ones): the bound on noticing a lock owner's death, and the
    /// safety net under every wake-up protocol (a lost wake costs at most about this, never a hang).
    /// </summary>
    public static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(200);

    private readonly int* _waiters;

    protected FutexWait(SyncMemory memory, int* word, int* waiters)
    {
        Memory = memory;
        Word = word;
        _waiters = waiters;
    }

    public SyncMemory Memory { get; }

    /// <summary>The 32-bit word to sleep on.</summary>
    public int* Word { get; }

    // Used by FutexWaiter only: the asynchronous side of this wait.
    internal TaskCompletionSource<bool>? Completion;
    internal long Deadline;
    internal CancellationToken Token;
    internal CancellationTokenRegistration Registration;
    internal object? Owner;

    /// <summary>Counts this waiter. Must come before the first <see cref="TryComplete"/>: a waker that changes the word after that look must see the count.</summary>
    public void Begin()
    {
        if (_waiters is not null)
        {
            Interlocked.Increment(ref *_waiters);
        }
        OnBegin();
    }

    protected virtual void OnBegin()
    {
    }

    /// <summary>Takes what is waited for (true), or gives the value of <see cref="Word"/> under which it is not there yet.</summary>
    public bool TryComplete(out int observed)
    {
        if (TryTake(out observed))
        {
            Uncount();
            return true;
        }
        return false;
    }

    protected abstract bool TryTake(out int observed);

    /// <summary>Stops waiting; true when the wait completed after all (the caller then reports success).</summary>
    public bool Withdraw()
    {
        Uncount();
        return OnWithdraw();
    }

    /// <summary>After uncounting: pass on a wake this waiter may have taken, or finish a wait that completed meanwhile.</summary>
    protected virtual bool OnWithdraw() => false;

    private void Uncount()
    {
        if (_waiters is not null)
        {
            Interlocked.Decrement(ref *_waiters);
        }
    }

    /// <summary>Wakes every sleeper on the word (in every process); they look again and sleep again if nothing changed.</summary>
    public void WakeAll() => Libc.FutexWake(Word, int.MaxValue);

    /// <summary>
    /// One look at the wait, made the same way by the calling thread (<see cref="Run"/>) and by the
    /// waiter thread (<see cref="FutexWaiter"/>): take what is waited for if it is there (even when
    /// the wait is also closed, cancelled or out of time: a wait that can complete does); otherwise
    /// stop on closing, cancellation or the deadline, withdrawing (which may still complete it);
    /// otherwise sleep on <paramref name="observed"/>. The caller holds a use of <see cref="Memory"/>.
    /// </summary>
    public FutexLook Look(bool deadlinePassed, CancellationToken cancellationToken, out int observed)
    {
        if (TryComplete(out observed))
        {
            return FutexLook.Completed;
        }
        if (Memory.IsClosed)
        {
            Withdraw();
            return FutexLook.Closed;
        }
        if (cancellationToken.IsCancellationRequested)
        {
            return Withdraw() ? FutexLook.Completed : FutexLook.Cancelled;
        }
        if (deadlinePassed)
        {
            return Withdraw() ? FutexLook.Completed : FutexLook.TimedOut;
        }
        return FutexLook.Sleep;
    }

    /// <summary>
    /// <see cref="Run"/> under a use of <see cref="Memory"/> that it takes itself: the blocking wait
    /// of every primitive's public method.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    /// <exception cref="ObjectDisposedException">The object was closed, before or while waiting.</exception>
    public bool Block(TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using SyncMemory.UseScope use = Memory.EnterScope();
        return Run(timeout, cancellationToken);
    }

    /// <summary>
    /// Waits on the calling thread until the wait completes (true) or <paramref name="timeout"/>
    /// passes (false). The caller holds a use of <see cref="Memory"/>.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    /// <exception cref="ObjectDisposedException">The object was closed while waiting.</exception>
    public bool Run(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Memory.AssertEntered();
        long start = Stopwatch.GetTimestamp();
        bool infinite = timeout == Timeout.InfiniteTimeSpan;
        Begin();
        // The token cannot interrupt futex(): its callback wakes the word instead (a spurious wake
        // for other sleepers, who look and sleep again). A cancel that lands between our check and
        // the sleep is caught by the ticker's next wake, within a slice.
        CancellationTokenRegistration registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static state => ((FutexWait)state!).WakeAll(), this)
            : default;
        try
        {
            while (true)
            {
                TimeSpan remaining = infinite ? Slice : timeout - Stopwatch.GetElapsedTime(start);
                switch (Look(deadlinePassed: remaining <= TimeSpan.Zero, cancellationToken, out int observed))
                {
                    case FutexLook.Completed:
                        return true;
                    case FutexLook.TimedOut:
                        return false;
                    case FutexLook.Closed:
                        throw Memory.Disposed();
                    case FutexLook.Cancelled:
                        throw new OperationCanceledException(cancellationToken);
                }
                int slot;
                if (remaining >= Slice && (slot = FutexTicker.Register(Word)) >= 0)
                {
                    // Long waits sleep untimed: the ticker wakes us within a slice to look again.
                    try
                    {
                        Libc.FutexSleep(Word, observed);
                    }
                    finally
                    {
                        FutexTicker.Unregister(slot);
                    }
                }
                else
                {
                    Libc.FutexSleep(Word, observed, remaining < Slice ? remaining : Slice);
                }
            }
        }
        finally
        {
            // Dispose waits for a running callback, which touches the word: it must end before our use does.
            registration.Dispose();
        }
    }

    /// <summary>Checks a time-out argument the way the BCL does: non-negative or infinite, at most int.MaxValue milliseconds.</summary>
    public static TimeSpan Validate(TimeSpan timeout, string parameterName = "timeout")
    {
        if ((timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan) || timeout.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(parameterName, timeout, "The time-out must be non-negative (or Timeout.InfiniteTimeSpan) and at most int.MaxValue milliseconds.");
        }
        return timeout;
    }
}

/// <summary>What one <see cref="FutexWait.Look"/> found.</summary>
internal enum FutexLook
{
    /// <summary>Not yet: sleep on the observed value and look again.</summary>
    Sleep,

    /// <summary>The wait completed: report success.</summary>
    Completed,

    /// <summary>The deadline passed; the wait was withdrawn.</summary>
    TimedOut,

    /// <summary>The token was cancelled; the wait was withdrawn.</summary>
    Cancelled,

    /// <summary>The object was closed (here or by its creator); the wait was withdrawn.</summary>
    Closed,
}
