using Multiprocessing.Interop;

namespace Multiprocessing.Synchronization;

/// <summary>
/// One arrival at a <see cref="SharedBarrier"/>: counts in at <see cref="FutexWait.Begin"/> (running
/// the post-phase action if it is the last), then waits for the phase word to move;
/// <see cref="Settle"/> then says how the phase ended. A follower (<see cref="Follow"/>) does not
/// arrive: it only waits for the phase of an arrival whose time-out passed while the post-phase
/// action ran. The moves on the state word are <see cref="BarrierState"/>'s.
/// </summary>
internal sealed unsafe class BarrierArrival(SharedBarrier barrier, bool arrives = true) : FutexWait(barrier.Shared, BarrierState.PhaseWordOf(barrier.Shared.State), waiters: null)
{
    private readonly long* _state = &barrier.Shared.State->Word;
    private int _phase;
    private bool _done;
    private BarrierBrokenException? _broken;

    /// <summary>The wait was withdrawn while the post-phase action ran: its outcome needs a <see cref="Follow"/>.</summary>
    public bool IsPending { get; private set; }

    public BarrierArrival Follow()
    {
        var follower = new BarrierArrival(barrier, arrives: false);
        follower._phase = _phase;
        return follower;
    }

    /// <summary>After a completed wait: true, or throws what broke the phase.</summary>
    public bool Settle() => _broken is { } broken ? throw broken : true;

    public Task<bool> SettleAsync(bool completed)
    {
        if (!completed)
        {
            return Task.FromResult(false);
        }
        if (!IsPending)
        {
            return _broken is { } broken ? Task.FromException<bool>(broken) : Task.FromResult(true);
        }
        BarrierArrival follower = Follow();
        return FutexWaiter.WaitAsync(follower, Timeout.InfiniteTimeSpan, CancellationToken.None)
            .ContinueWith(static (_, state) => ((BarrierArrival)state!).Settle(), follower, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    protected override void OnBegin()
    {
        if (!arrives)
        {
            return;
        }
        long state = Volatile.Read(ref *_state);
        while (true)
        {
            if (BarrierState.IsBroken(state))
            {
                _done = true;
                _broken = BarrierState.Broken("is broken (Abort was called, or a post-phase action threw); call Reset to use it again");
                return;
            }
            int participants = BarrierState.Participants(state);
            if (BarrierState.Arrived(state) >= participants)
            {
                // More arrivals than participants, while the last one runs the post-phase action:
                // this one belongs to the next phase, which starts when the action ends.
                Thread.SpinWait(20);
                Thread.Yield();
                state = Volatile.Read(ref *_state);
                continue;
            }
            bool last = BarrierState.Arrived(state) + 1 >= participants;
            Action<long>? action = last ? barrier.ActionHere : null;
            // With an action, the last arrival first fills the count (the others keep sleeping, and
            // cannot withdraw) and moves the phase on after the action; without one, at once.
            long next = !last ? state + 1 : action is null ? BarrierState.Advance(state, 1, participants) : state + 1;
            long seen = Interlocked.CompareExchange(ref *_state, next, state);
            if (seen == state)
            {
                _phase = (int)(state >>> 32);
                if (last)
                {
                    _done = true;
                    if (action is not null)
                    {
                        Complete(action, next, participants);
                    }
                    else
                    {
                        Libc.FutexWake(Word, int.MaxValue);
                    }
                }
                return;
            }
            state = seen;
        }
    }

    /// <summary>The last arrival's end of a phase with a post-phase action: run it, then release the others.</summary>
    private void Complete(Action<long> action, long full, int participants)
    {
        Exception? thrown = null;
        try
        {
            action((uint)_phase);
        }
        catch (Exception e)
        {
            thrown = e;
        }
        long wanted = BarrierState.Advance(full, 1, participants) | (thrown is null ? 0 : BarrierState.BrokenBit);
        long seen = Interlocked.CompareExchange(ref *_state, wanted, full);
        Libc.FutexWake(Word, int.MaxValue);
        if (seen != full)
        {
            // Abort or Reset came while the action ran: they ended the phase.
            _broken = BarrierState.Judge(seen, _phase);
        }
        else if (thrown is not null)
        {
            _broken = BarrierState.Broken($"broke because its post-phase action threw {thrown.GetType().Name}: {thrown.Message} (see the inner exception); call Reset to use it again", thrown);
        }
    }

    protected override bool TryTake(out int observed)
    {
        if (_done)
        {
            observed = 0;
            return true;
        }
        long state = Volatile.Read(ref *_state);
        observed = (int)(state >>> 32);
        if (observed == _phase)
        {
            return false;
        }
        _broken = BarrierState.Judge(state, _phase);
        return true;
    }

    protected override bool OnWithdraw()
    {
        if (!arrives)
        {
            return false;
        }
        long state = Volatile.Read(ref *_state);
        while (true)
        {
            if ((int)(state >>> 32) != _phase)
            {
                _broken = BarrierState.Judge(state, _phase);
                return true; // the phase ended after all
            }
            if (BarrierState.Arrived(state) == BarrierState.Participants(state))
            {
                // The last arrival runs the post-phase action: the phase is complete; wait for its outcome.
                IsPending = true;
                return true;
            }
            long seen = Interlocked.CompareExchange(ref *_state, state - 1, state);
            if (seen == state)
            {
                return false;
            }
            state = seen;
        }
    }
}
