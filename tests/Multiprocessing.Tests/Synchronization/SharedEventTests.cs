namespace Multiprocessing.Tests.Synchronization;

public sealed class SharedEventTests
{
    [Fact]
    public async Task Set_InOneProcess_ReleasesWaitersInThreeOthers()
    {
        using var ready = SharedEvent.Create(manualReset: true);
        using var waiting = SharedValue<int>.Create();
        using var released = SharedValue<int>.Create();
        var children = new List<WorkerProcess>
        {
            WorkerProcess.Start(SyncTasks.WaitForEvent, (ready, waiting, released)),
            WorkerProcess.Start(SyncTasks.WaitForEvent, (ready, waiting, released)),
            WorkerProcess.Start(SyncTasks.WaitForEventAsync, (ready, waiting, released)),
        };
        try
        {
            await Wait.UntilAsync(() => Volatile.Read(ref waiting.Value) == 3 && ready.WaiterCount == 3, "three workers wait for the event");
            Assert.Equal(0, Volatile.Read(ref released.Value));
            ready.Set();
            await Task.WhenAll(children.Select(c => c.Completion)).WaitAsync(Bounds.Unexpected);
            Assert.Equal(3, Volatile.Read(ref released.Value));
        }
        finally
        {
            children.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task AutoReset_EachSetReleasesOneWaiter()
    {
        using var turn = SharedEvent.Create(manualReset: false);
        Task<bool>[] waiters = [Task.Run(() => turn.TryWait(Bounds.Unexpected)), turn.TryWaitAsync(Bounds.Unexpected).AsTask()];
        await Wait.UntilAsync(() => turn.WaiterCount == 2, "two waiters wait");
        turn.Set();
        await Wait.UntilAsync(() => waiters.Count(t => t.IsCompleted) == 1, "one waiter is released");
        Assert.False(turn.IsSet);
        turn.Set();
        Assert.All(await Task.WhenAll(waiters).WaitAsync(Bounds.Unexpected), Assert.True);
        Assert.False(turn.IsSet);
    }

    [Fact]
    public async Task ManualReset_SetThenResetAtOnce_StillReleasesThoseWaiting()
    {
        using var pulse = SharedEvent.Create(manualReset: true);
        Task<bool> sync = Task.Run(() => pulse.TryWait(Bounds.Unexpected));
        Task<bool> async = pulse.TryWaitAsync(Bounds.Unexpected).AsTask();
        await Wait.UntilAsync(() => pulse.WaiterCount == 2, "two waiters wait");
        pulse.Set();
        pulse.Reset();
        Assert.True(await sync.WaitAsync(Bounds.Unexpected));
        Assert.True(await async.WaitAsync(Bounds.Unexpected));
        Assert.False(pulse.TryWait(TimeSpan.Zero));
    }

    [Fact]
    public async Task Wait_NotSet_TimesOut_AndCancels()
    {
        using var never = SharedEvent.Create(manualReset: true, initialState: false);
        Assert.False(never.TryWait(TimeSpan.FromMilliseconds(50)));
        Assert.Throws<TimeoutException>(() => never.Wait(TimeSpan.FromMilliseconds(50)));
        await Assert.ThrowsAsync<TimeoutException>(() => never.WaitAsync(TimeSpan.FromMilliseconds(50)).AsTask());
        using var cancel = new CancellationTokenSource();
        Task sync = Task.Run(() => never.Wait(cancel.Token));
        Task async = never.WaitAsync(cancel.Token).AsTask();
        await Wait.UntilAsync(() => never.WaiterCount == 2, "both waiters wait");
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sync.WaitAsync(Bounds.Unexpected));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => async.WaitAsync(Bounds.Unexpected));
        Assert.Equal(0, never.WaiterCount);
    }

    [Fact]
    public void InitialState_Set_WaitReturnsAtOnce()
    {
        using var open = SharedEvent.Create(manualReset: true, initialState: true);
        Assert.True(open.IsSet);
        open.Wait(TimeSpan.Zero);
        open.Reset();
        Assert.False(open.IsSet);
    }

    [Fact]
    public async Task Dispose_WhileWaitersWait_TheyGetObjectDisposedException()
    {
        var never = SharedEvent.Create(manualReset: false);
        Task sync = Task.Run(() => never.Wait(Bounds.Unexpected));
        Task async = never.WaitAsync(Bounds.Unexpected).AsTask();
        await Wait.UntilAsync(() => never.WaiterCount == 2, "both waiters wait");
        never.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => sync.WaitAsync(Bounds.Unexpected));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => async.WaitAsync(Bounds.Unexpected));
        Assert.Throws<ObjectDisposedException>(never.Set);
    }
}
