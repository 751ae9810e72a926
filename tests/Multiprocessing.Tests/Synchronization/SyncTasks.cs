namespace Multiprocessing.Tests.Synchronization;

/// <summary>Task methods that run in worker processes on shared synchronisation objects. All static: that is what crosses a process boundary.</summary>
internal static class SyncTasks
{
    /// <summary>A deliberately non-atomic read-modify-write: only the lock keeps increments from being lost.</summary>
    public static int IncrementUnderLock((SharedLock Gate, SharedValue<long> Counter, int Times) a)
    {
        int abandoned = 0;
        for (int i = 0; i < a.Times; i++)
        {
            using LockReleaser held = a.Gate.Acquire(Bounds.Unexpected);
            abandoned += held.IsAbandoned ? 1 : 0;
            ref long value = ref a.Counter.Value;
            long read = Volatile.Read(ref value);
            Volatile.Write(ref value, read + 1);
        }
        return abandoned;
    }

    /// <summary>Takes the lock, says so, and never lets go: the holder a test kills.</summary>
    public static void HoldForever((SharedLock Gate, SharedValue<int> Holding) a)
    {
        LockReleaser held = a.Gate.Acquire(Bounds.Unexpected);
        Volatile.Write(ref a.Holding.Value, 1);
        Thread.Sleep(Timeout.Infinite);
        GC.KeepAlive(held);
    }

    /// <summary>Takes the lock and returns without releasing it: the process then exits normally, still holding it.</summary>
    public static bool AcquireAndForget(SharedLock gate)
    {
        LockReleaser held = gate.Acquire(Bounds.Unexpected);
        return held.IsHeld;
    }

    /// <summary>Waits for the lock; the creator disposes it meanwhile.</summary>
    public static string AcquireExpectingDisposal((SharedLock Gate, SharedValue<int> Waiting) a)
    {
        Volatile.Write(ref a.Waiting.Value, 1);
        try
        {
            using LockReleaser held = a.Gate.Acquire(Bounds.Unexpected);
            return "acquired";
        }
        catch (ObjectDisposedException)
        {
            return "disposed";
        }
    }

    /// <summary>Waits for the event, counting itself in before and out after.</summary>
    public static void WaitForEvent((SharedEvent Ready, SharedValue<int> Waiting, SharedValue<int> Released) a)
    {
        Interlocked.Increment(ref a.Waiting.Value);
        a.Ready.Wait(Bounds.Unexpected);
        Interlocked.Increment(ref a.Released.Value);
    }

    /// <summary>The same, asynchronously.</summary>
    public static async Task WaitForEventAsync((SharedEvent Ready, SharedValue<int> Waiting, SharedValue<int> Released) a)
    {
        Interlocked.Increment(ref a.Waiting.Value);
        await a.Ready.WaitAsync(Bounds.Unexpected);
        Interlocked.Increment(ref a.Released.Value);
    }

    /// <summary>
    /// Runs <paramref name="a"/>.Phases phases. In phase p it records p + 1 in its slot, then waits at
    /// the barrier; after the barrier every slot must say at least p + 1 (nobody is behind) and at
    /// most p + 2 (nobody is more than one phase ahead). Returns the number of violations.
    /// </summary>
    public static int StepInPhase((SharedBarrier Barrier, SharedArray<int> Progress, int Index, int Phases) a)
    {
        int violations = 0;
        for (int phase = 0; phase < a.Phases; phase++)
        {
            Volatile.Write(ref a.Progress.GetReference(a.Index), phase + 1);
            a.Barrier.SignalAndWait(Bounds.Unexpected);
            if (a.Barrier.CurrentPhaseNumber < phase + 1)
            {
                violations++;
            }
            for (int other = 0; other < a.Progress.Length; other++)
            {
                int seen = Volatile.Read(ref a.Progress.GetReference(other));
                if (seen < phase + 1 || seen > phase + 2)
                {
                    violations++;
                }
            }
        }
        return violations;
    }

    /// <summary>Enters the semaphore's section repeatedly, recording the most holders ever inside at once.</summary>
    public static void CountInside((SharedSemaphore Slots, SharedArray<int> Counters, int Rounds) a)
    {
        for (int i = 0; i < a.Rounds; i++)
        {
            a.Slots.Wait(Bounds.Unexpected);
            try
            {
                int inside = Interlocked.Increment(ref a.Counters.GetReference(0));
                ref int most = ref a.Counters.GetReference(1);
                int seen = Volatile.Read(ref most);
                while (inside > seen)
                {
                    int now = Interlocked.CompareExchange(ref most, inside, seen);
                    if (now == seen)
                    {
                        break;
                    }
                    seen = now;
                }
                Thread.SpinWait(2000);
                Interlocked.Decrement(ref a.Counters.GetReference(0));
            }
            finally
            {
                a.Slots.Release();
            }
        }
    }

    /// <summary>Waits on the condition until the value is set, and returns it (the condition brings its lock).</summary>
    public static int ConsumeWhenSet((SharedCondition Ready, SharedValue<int> Value) a)
    {
        using LockReleaser held = a.Ready.Lock.Acquire(Bounds.Unexpected);
        while (Volatile.Read(ref a.Value.Value) == 0)
        {
            a.Ready.Wait(held, Bounds.Unexpected);
        }
        return Volatile.Read(ref a.Value.Value);
    }

    /// <summary>Arrives once (synchronously or asynchronously) and says how the phase ended: "completed", or the broken exception's message, prefixed with whether it had an inner exception.</summary>
    public static async Task<string> ArriveAndReport((SharedBarrier Barrier, bool Async) a)
    {
        try
        {
            if (a.Async)
            {
                await a.Barrier.SignalAndWaitAsync(Bounds.Unexpected);
            }
            else
            {
                a.Barrier.SignalAndWait(Bounds.Unexpected);
            }
            return "completed";
        }
        catch (BarrierBrokenException e)
        {
            return (e.InnerException is null ? "broken: " : "broken with inner: ") + e.Message;
        }
    }

    /// <summary>Python's behaviour on demand: a participant that times out aborts the barrier, releasing the others.</summary>
    public static bool ArriveOrAbort((SharedBarrier Barrier, int TimeoutMs) a)
    {
        if (a.Barrier.TrySignalAndWait(TimeSpan.FromMilliseconds(a.TimeoutMs)))
        {
            return true;
        }
        a.Barrier.Abort();
        return false;
    }

    /// <summary>
    /// Sets a post-phase action on this process's barrier object that counts each phase's runs, then
    /// goes through the phases; returns the phases after which its count was not exactly one (the
    /// action must run once per phase, and before anyone is released).
    /// </summary>
    public static int CountPhaseActions((SharedBarrier Barrier, SharedArray<int> RunsPerPhase, int Phases) a)
    {
        a.Barrier.PostPhaseAction = phase => Interlocked.Increment(ref a.RunsPerPhase.GetReference((int)phase));
        int violations = 0;
        for (int phase = 0; phase < a.Phases; phase++)
        {
            if (phase % 2 == 0)
            {
                a.Barrier.SignalAndWait(Bounds.Unexpected);
            }
            else
            {
                a.Barrier.SignalAndWaitAsync(Bounds.Unexpected).AsTask().GetAwaiter().GetResult();
            }
            if (Volatile.Read(ref a.RunsPerPhase.GetReference(phase)) != 1)
            {
                violations++;
            }
        }
        return violations;
    }

    /// <summary>Sleeps for ever: a participant that never comes.</summary>
    public static void Vanish(SharedBarrier barrier)
    {
        GC.KeepAlive(barrier);
        Thread.Sleep(Timeout.Infinite);
    }
}

/// <summary>Runs in a worker: every public member of disposed synchronisation objects (see <see cref="DisposedProbe"/>).</summary>
internal static class DisposedSyncTasks
{
    public static string ProbeAfterDispose(string name)
    {
        var probe = new DisposedProbe();
        TimeSpan shortWait = TimeSpan.FromMilliseconds(1);

        var gate = SharedLock.Create();
        LockReleaser held = gate.Acquire();
        gate.Dispose();
        probe.Throws("SharedLock.Acquire", () => gate.Acquire());
        probe.Throws("SharedLock.Acquire(timeout)", () => gate.Acquire(shortWait));
        probe.Throws("SharedLock.TryAcquire", () => gate.TryAcquire());
        probe.Throws("SharedLock.TryAcquire(timeout)", () => gate.TryAcquire(shortWait));
        probe.ThrowsAsync("SharedLock.AcquireAsync", () => gate.AcquireAsync().AsTask());
        probe.ThrowsAsync("SharedLock.TryAcquireAsync", () => gate.TryAcquireAsync(shortWait).AsTask());
        probe.Throws("SharedLock.IsHeldByCurrentProcess", () => _ = gate.IsHeldByCurrentProcess);
        probe.Safe("SharedLock.ToString", gate.ToString);
        try
        {
            held.Dispose(); // may say the lock is gone; must not touch its memory
        }
        catch (ObjectDisposedException)
        {
        }

        var semaphore = SharedSemaphore.Create(1, 2);
        semaphore.Dispose();
        probe.Throws("SharedSemaphore.Wait", () => semaphore.Wait());
        probe.Throws("SharedSemaphore.TryWait", () => semaphore.TryWait());
        probe.Throws("SharedSemaphore.TryWait(timeout)", () => semaphore.TryWait(shortWait));
        probe.ThrowsAsync("SharedSemaphore.WaitAsync", () => semaphore.WaitAsync().AsTask());
        probe.ThrowsAsync("SharedSemaphore.TryWaitAsync", () => semaphore.TryWaitAsync(shortWait).AsTask());
        probe.Throws("SharedSemaphore.Release", () => semaphore.Release());
        probe.Throws("SharedSemaphore.CurrentCount", () => _ = semaphore.CurrentCount);
        probe.Safe("SharedSemaphore.MaximumCount", () => semaphore.MaximumCount);
        probe.Safe("SharedSemaphore.ToString", semaphore.ToString);

        var signal = SharedEvent.Create(manualReset: true);
        signal.Dispose();
        probe.Throws("SharedEvent.Set", signal.Set);
        probe.Throws("SharedEvent.Reset", signal.Reset);
        probe.Throws("SharedEvent.IsSet", () => _ = signal.IsSet);
        probe.Throws("SharedEvent.Wait", () => signal.Wait());
        probe.Throws("SharedEvent.TryWait", () => signal.TryWait(shortWait));
        probe.ThrowsAsync("SharedEvent.WaitAsync", () => signal.WaitAsync().AsTask());
        probe.ThrowsAsync("SharedEvent.TryWaitAsync", () => signal.TryWaitAsync(shortWait).AsTask());
        probe.Safe("SharedEvent.IsManualReset", () => signal.IsManualReset);
        probe.Safe("SharedEvent.ToString", signal.ToString);

        using var conditionLock = SharedLock.Create();
        var condition = SharedCondition.Create(conditionLock);
        condition.Dispose();
        probe.Throws("SharedCondition.Pulse", condition.Pulse);
        probe.Throws("SharedCondition.PulseAll", condition.PulseAll);
        using (LockReleaser conditionHeld = conditionLock.Acquire())
        {
            probe.Throws("SharedCondition.Wait", () => condition.Wait(conditionHeld));
            probe.Throws("SharedCondition.TryWait", () => condition.TryWait(conditionHeld, shortWait));
            probe.ThrowsAsync("SharedCondition.WaitAsync", () => condition.WaitAsync(conditionHeld).AsTask());
            probe.ThrowsAsync("SharedCondition.TryWaitAsync", () => condition.TryWaitAsync(conditionHeld, shortWait).AsTask());
        }
        probe.Safe("SharedCondition.Lock", () => condition.Lock);
        probe.Safe("SharedCondition.ToString", condition.ToString);

        var barrier = SharedBarrier.Create(2);
        barrier.Dispose();
        probe.Throws("SharedBarrier.SignalAndWait", () => barrier.SignalAndWait());
        probe.Throws("SharedBarrier.SignalAndWait(timeout)", () => barrier.SignalAndWait(shortWait));
        probe.Throws("SharedBarrier.TrySignalAndWait", () => barrier.TrySignalAndWait(shortWait));
        probe.ThrowsAsync("SharedBarrier.SignalAndWaitAsync", () => barrier.SignalAndWaitAsync().AsTask());
        probe.ThrowsAsync("SharedBarrier.TrySignalAndWaitAsync", () => barrier.TrySignalAndWaitAsync(shortWait).AsTask());
        probe.Throws("SharedBarrier.RemoveParticipant", barrier.RemoveParticipant);
        probe.Throws("SharedBarrier.CurrentPhaseNumber", () => _ = barrier.CurrentPhaseNumber);
        probe.Throws("SharedBarrier.ParticipantCount", () => _ = barrier.ParticipantCount);
        probe.Throws("SharedBarrier.ParticipantsRemaining", () => _ = barrier.ParticipantsRemaining);
        probe.Safe("SharedBarrier.ToString", barrier.ToString);

        // Opened by name, closed by its creator: the opener's members refuse too.
        var createdLock = SharedLock.Create(name);
        SharedLock openedLock = SharedLock.Open(name);
        createdLock.Dispose();
        probe.Throws("opened SharedLock.TryAcquire", () => openedLock.TryAcquire());
        openedLock.Dispose();
        probe.Throws("opened and disposed SharedLock.TryAcquire", () => openedLock.TryAcquire());
        return probe.Report;
    }
}
