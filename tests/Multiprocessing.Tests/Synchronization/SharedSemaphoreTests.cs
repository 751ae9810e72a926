namespace Multiprocessing.Tests.Synchronization;

public sealed class SharedSemaphoreTests
{
    [Fact]
    public void Release_PastTheMaximum_ThrowsSemaphoreFullException_AndReleasesNothing()
    {
        using var slots = SharedSemaphore.Create(initialCount: 1, maximumCount: 2);
        Assert.Equal(1, slots.Release());
        Assert.Equal(2, slots.CurrentCount);
        Assert.Throws<SemaphoreFullException>(() => slots.Release());
        Assert.Equal(2, slots.CurrentCount);
        slots.Wait();
        Assert.Throws<SemaphoreFullException>(() => slots.Release(2));
        Assert.Equal(1, slots.CurrentCount);
    }

    [Fact]
    public void Create_BadCounts_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SharedSemaphore.Create(3, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => SharedSemaphore.Create(-1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => SharedSemaphore.Create(0, 0));
    }

    [Fact]
    public async Task Wait_NoPermit_TimesOut_SyncAndAsync()
    {
        using var slots = SharedSemaphore.Create(initialCount: 0, maximumCount: 1);
        Assert.False(slots.TryWait());
        Assert.False(slots.TryWait(TimeSpan.FromMilliseconds(50)));
        Assert.Throws<TimeoutException>(() => slots.Wait(TimeSpan.FromMilliseconds(50)));
        Assert.False(await slots.TryWaitAsync(TimeSpan.FromMilliseconds(50)));
        await Assert.ThrowsAsync<TimeoutException>(() => slots.WaitAsync(TimeSpan.FromMilliseconds(50)).AsTask());
        Assert.Equal(0, slots.WaiterCount);
    }

    [Fact]
    public async Task Release_WakesAsManyWaitersAsPermits()
    {
        using var slots = SharedSemaphore.Create(initialCount: 0, maximumCount: 10);
        Task[] waiters =
        [
            Task.Run(() => slots.Wait(Bounds.Unexpected)),
            Task.Run(() => slots.Wait(Bounds.Unexpected)),
            slots.WaitAsync(Bounds.Unexpected).AsTask(),
            slots.WaitAsync(Bounds.Unexpected).AsTask(),
        ];
        await Wait.UntilAsync(() => slots.WaiterCount == 4, "four waiters wait");
        slots.Release(3);
        await Wait.UntilAsync(() => waiters.Count(t => t.IsCompletedSuccessfully) == 3, "three waiters are released");
        Assert.Equal(0, slots.CurrentCount);
        slots.Release();
        await Task.WhenAll(waiters).WaitAsync(Bounds.Unexpected);
    }

    [Fact]
    public async Task Wait_Cancelled_ThrowsOperationCanceled()
    {
        using var slots = SharedSemaphore.Create(initialCount: 0);
        using var cancel = new CancellationTokenSource();
        Task sync = Task.Run(() => slots.Wait(cancel.Token));
        Task async = slots.WaitAsync(cancel.Token).AsTask();
        await Wait.UntilAsync(() => slots.WaiterCount == 2, "both waiters wait");
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sync.WaitAsync(Bounds.Unexpected));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => async.WaitAsync(Bounds.Unexpected));
        Assert.Equal(0, slots.CurrentCount);
    }

    [Fact]
    public async Task Dispose_WhileWaitersWait_TheyGetObjectDisposedException()
    {
        var slots = SharedSemaphore.Create(initialCount: 0);
        Task sync = Task.Run(() => slots.Wait(Bounds.Unexpected));
        Task async = slots.WaitAsync(Bounds.Unexpected).AsTask();
        await Wait.UntilAsync(() => slots.WaiterCount == 2, "both waiters wait");
        slots.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => sync.WaitAsync(Bounds.Unexpected));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => async.WaitAsync(Bounds.Unexpected));
        Assert.Throws<ObjectDisposedException>(() => slots.Release());
    }

    [Fact]
    public async Task Wait_AcrossFourProcesses_NeverAdmitsMoreThanTheCount()
    {
        using var slots = SharedSemaphore.Create(initialCount: 2, maximumCount: 2);
        using var counters = SharedArray<int>.Create(2); // [0]: inside now, [1]: most ever inside
        var children = Enumerable.Range(0, 4).Select(_ => WorkerProcess.Start(SyncTasks.CountInside, (slots, counters, 2_000))).ToList();
        try
        {
            await Task.WhenAll(children.Select(c => c.Completion)).WaitAsync(Bounds.Unexpected);
        }
        finally
        {
            children.ForEach(c => c.Dispose());
        }
        Assert.Equal(0, counters[0]);
        Assert.InRange(counters[1], 1, 2);
        Assert.Equal(2, slots.CurrentCount);
    }
}
