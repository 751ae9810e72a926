using Multiprocessing.Synchronization;

namespace Multiprocessing.Tests.Synchronization;

public sealed class AsyncWaitTests
{
    [Fact]
    public async Task WaitAsync_TwoHundredWaiters_DoNotHoldThreadPoolThreads()
    {
        using var ready = SharedEvent.Create(manualReset: true);
        int poolThreadsBefore = ThreadPool.ThreadCount;
        Task[] waiters = [.. Enumerable.Range(0, 200).Select(_ => ready.WaitAsync(Bounds.Unexpected).AsTask())];
        await Wait.UntilAsync(() => ready.WaiterCount == 200, "200 async waiters wait");
        Assert.DoesNotContain(waiters, t => t.IsCompleted);

        // A pool that parked a thread per waiter would need 200 threads; ours answers at once.
        Assert.Equal(42, await Task.Run(() => 42).WaitAsync(Bounds.Unexpected));
        Assert.True(ThreadPool.ThreadCount < poolThreadsBefore + 50,
            $"the thread pool grew from {poolThreadsBefore} to {ThreadPool.ThreadCount} threads while 200 async waits were pending");
        Assert.InRange(FutexWaiter.ThreadCount, 1, 4); // waits on one word share one futex_waitv entry (other tests may have added a thread)
        if (Environment.OSVersion.Version >= new Version(5, 16))
        {
            Assert.False(FutexWaiter.IsPolling, "this kernel has futex_waitv; the waiter thread should sleep in it, not poll");
        }

        ready.Set();
        await Task.WhenAll(waiters).WaitAsync(Bounds.Unexpected);
    }

    [Fact]
    public async Task AcquireAsync_TwoHundredWaiters_EachGetsTheLockInTurn()
    {
        using var gate = SharedLock.Create();
        LockReleaser first = gate.Acquire();
        int inside = 0;
        int most = 0;
        async Task TakeTurnAsync()
        {
            using LockReleaser held = await gate.AcquireAsync(Bounds.Unexpected);
            int now = Interlocked.Increment(ref inside);
            InterlockedMax(ref most, now);
            await Task.Yield();
            Interlocked.Decrement(ref inside);
        }
        Task[] turns = [.. Enumerable.Range(0, 200).Select(_ => TakeTurnAsync())];
        await Wait.UntilAsync(() => gate.WaiterCount == 200, "200 async acquirers wait");
        Assert.Equal(7, await Task.Run(() => 7).WaitAsync(Bounds.Unexpected));
        first.Dispose();
        await Task.WhenAll(turns).WaitAsync(Bounds.Unexpected);
        Assert.Equal(1, most);
        Assert.Equal(0, gate.WaiterCount);
    }

    [Fact]
    public async Task WaitAsync_OnMoreWordsThanOneFutexWaitvTakes_AllComplete()
    {
        SharedEvent[] events = [.. Enumerable.Range(0, 200).Select(_ => SharedEvent.Create(manualReset: true))];
        try
        {
            Task[] waiters = [.. events.Select(e => e.WaitAsync(Bounds.Unexpected).AsTask())];
            await Wait.UntilAsync(() => events.All(e => e.WaiterCount == 1), "every event has its waiter");
            Assert.True(FutexWaiter.ThreadCount >= 2, "200 distinct words need a second waiter thread (127 words each)");
            Assert.DoesNotContain(waiters, t => t.IsCompleted);
            foreach (SharedEvent e in events)
            {
                e.Set();
            }
            await Task.WhenAll(waiters).WaitAsync(Bounds.Unexpected);
        }
        finally
        {
            foreach (SharedEvent e in events)
            {
                e.Dispose();
            }
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen = Volatile.Read(ref target);
        while (value > seen)
        {
            int now = Interlocked.CompareExchange(ref target, value, seen);
            if (now == seen)
            {
                return;
            }
            seen = now;
        }
    }
}
