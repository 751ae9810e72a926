namespace Multiprocessing.Tests.Synchronization;

public sealed class SharedConditionTests
{
    [Fact]
    public async Task Pulse_WakesAWaiterInAnotherProcess_WhichSeesTheNewState()
    {
        using var gate = SharedLock.Create();
        using var ready = SharedCondition.Create(gate);
        using var value = SharedValue<int>.Create();
        using var consumer = WorkerProcess.Start(SyncTasks.ConsumeWhenSet, (ready, value));
        await Wait.UntilAsync(() => ready.WaiterCount == 1, $"worker {consumer.Id} waits on the condition");
        using (LockReleaser held = gate.Acquire(Bounds.Unexpected))
        {
            Volatile.Write(ref value.Value, 42);
            ready.Pulse();
        }
        Assert.Equal(42, await consumer.Result.WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task PulseAll_WakesEveryWaiter_SyncAndAsync()
    {
        using var gate = SharedLock.Create();
        using var ready = SharedCondition.Create(gate);
        bool go = false;
        async Task WaitAsync()
        {
            using LockReleaser held = await gate.AcquireAsync(Bounds.Unexpected);
            while (!Volatile.Read(ref go))
            {
                await ready.WaitAsync(held, Bounds.Unexpected);
            }
            Assert.True(gate.IsHeldByCurrentProcess);
        }
        void WaitSync()
        {
            using LockReleaser held = gate.Acquire(Bounds.Unexpected);
            while (!Volatile.Read(ref go))
            {
                ready.Wait(held, Bounds.Unexpected);
            }
        }
        Task[] waiters = [Task.Run(WaitSync), Task.Run(WaitSync), WaitAsync(), WaitAsync()];
        await Wait.UntilAsync(() => ready.WaiterCount == 4, "four waiters wait");
        using (gate.Acquire(Bounds.Unexpected))
        {
            Volatile.Write(ref go, true);
            ready.PulseAll();
        }
        await Task.WhenAll(waiters).WaitAsync(Bounds.Unexpected);
        Assert.Equal(0, ready.WaiterCount);
    }

    [Fact]
    public async Task Wait_TimesOut_AndHoldsTheLockAgain()
    {
        using var gate = SharedLock.Create();
        using var ready = SharedCondition.Create(gate);
        using LockReleaser held = gate.Acquire();
        Assert.False(ready.TryWait(held, TimeSpan.FromMilliseconds(50)));
        Assert.True(gate.IsHeldByCurrentProcess);
        Assert.Throws<TimeoutException>(() => ready.Wait(held, TimeSpan.FromMilliseconds(50)));
        Assert.True(gate.IsHeldByCurrentProcess);
        Assert.False(await ready.TryWaitAsync(held, TimeSpan.FromMilliseconds(50)));
        Assert.True(gate.IsHeldByCurrentProcess);
        Assert.True(held.IsHeld);
        Assert.Equal(0, ready.WaiterCount);
    }

    [Fact]
    public async Task Wait_Cancelled_ThrowsAfterTakingTheLockBack()
    {
        using var gate = SharedLock.Create();
        using var ready = SharedCondition.Create(gate);
        using var cancel = new CancellationTokenSource();
        Task waiting = Task.Run(() =>
        {
            using LockReleaser held = gate.Acquire(Bounds.Unexpected);
            try
            {
                ready.Wait(held, cancel.Token);
            }
            finally
            {
                Assert.True(gate.IsHeldByCurrentProcess);
            }
        });
        await Wait.UntilAsync(() => ready.WaiterCount == 1, "the waiter waits");
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(Bounds.Unexpected));
        Assert.False(gate.IsHeldByCurrentProcess);
    }

    [Fact]
    public void Open_ByName_BringsTheSameLock()
    {
        string name = $"condition-test-{Guid.NewGuid():N}";
        using var gate = SharedLock.Create();
        using var ready = SharedCondition.Create(gate, name);
        using var opened = SharedCondition.Open(name);
        using LockReleaser held = opened.Lock.Acquire();
        Assert.Null(gate.TryAcquire());
        Assert.False(opened.TryWait(held, TimeSpan.FromMilliseconds(20)));
        Assert.True(opened.Lock.IsHeldByCurrentProcess);
    }

    [Fact]
    public void Pulse_WithoutTheLock_ThrowsSynchronizationLockException()
    {
        using var gate = SharedLock.Create();
        using var ready = SharedCondition.Create(gate);
        Assert.Throws<SynchronizationLockException>(ready.Pulse);
        LockReleaser held = gate.Acquire();
        held.Dispose();
        Assert.Throws<SynchronizationLockException>(() => ready.Wait(held));
        using var other = SharedLock.Create();
        using LockReleaser wrong = other.Acquire();
        Assert.Throws<SynchronizationLockException>(() => ready.Wait(wrong));
    }

    [Fact]
    public async Task Dispose_WhileWaitersWait_TheyGetObjectDisposedException()
    {
        using var gate = SharedLock.Create();
        var ready = SharedCondition.Create(gate);
        Task waiting = Task.Run(() =>
        {
            using LockReleaser held = gate.Acquire(Bounds.Unexpected);
            ready.Wait(held, Bounds.Unexpected);
        });
        await Wait.UntilAsync(() => ready.WaiterCount == 1, "the waiter waits");
        ready.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting.WaitAsync(Bounds.Unexpected));
        Assert.False(gate.IsHeldByCurrentProcess);
    }
}
