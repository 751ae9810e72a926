using Multiprocessing.Interop;
using Multiprocessing.Synchronization;

namespace Multiprocessing.Tests.Synchronization;

public sealed class SharedLockTests
{
    [Fact]
    public async Task Acquire_FourProcessesIncrementUnderTheLock_NoIncrementIsLost()
    {
        using var gate = SharedLock.Create();
        using var counter = SharedValue<long>.Create();
        var children = Enumerable.Range(0, 4).Select(_ => WorkerProcess.Start(SyncTasks.IncrementUnderLock, (gate, counter, 100_000))).ToList();
        try
        {
            int[] abandoned = await Task.WhenAll(children.Select(c => c.Result)).WaitAsync(Bounds.Unexpected * 2);
            Assert.Equal(400_000L, Volatile.Read(ref counter.Value));
            Assert.All(abandoned, a => Assert.Equal(0, a));
            Assert.Equal(4, children.Select(c => c.Id).Distinct().Count());
        }
        finally
        {
            children.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task Acquire_HolderKilledWhileWeWait_ReturnsTheLockMarkedAbandoned()
    {
        using var gate = SharedLock.Create();
        using var holding = SharedValue<int>.Create();
        using var holder = WorkerProcess.Start(SyncTasks.HoldForever, (gate, holding));
        await Wait.UntilAsync(() => Volatile.Read(ref holding.Value) == 1, $"worker {holder.Id} holds the lock");
        Assert.Null(gate.TryAcquire());

        Task<LockReleaser> waiting = Task.Run(() => gate.Acquire(Bounds.Unexpected));
        await Wait.UntilAsync(() => gate.WaiterCount == 1, "the acquirer waits");
        holder.Kill();

        using LockReleaser taken = await waiting.WaitAsync(Bounds.Unexpected);
        Assert.True(taken.IsAbandoned, "the releaser should say the previous owner died holding the lock");
        Assert.True(gate.IsHeldByCurrentProcess);
        taken.Dispose();
        using LockReleaser next = gate.Acquire(Bounds.Unexpected);
        Assert.False(next.IsAbandoned);
    }

    [Fact]
    public async Task AcquireAsync_HolderKilledBeforeWeAsk_ReturnsTheLockMarkedAbandoned()
    {
        using var gate = SharedLock.Create();
        using var holding = SharedValue<int>.Create();
        using (var holder = WorkerProcess.Start(SyncTasks.HoldForever, (gate, holding)))
        {
            await Wait.UntilAsync(() => Volatile.Read(ref holding.Value) == 1, $"worker {holder.Id} holds the lock");
            holder.Kill();
            await holder.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
        }
        using LockReleaser taken = await gate.AcquireAsync(Bounds.Unexpected);
        Assert.True(taken.IsAbandoned);
    }

    [Fact]
    public async Task Acquire_HolderExitedNormallyWithoutReleasing_ReturnsTheLockMarkedAbandoned()
    {
        using var gate = SharedLock.Create();
        using (var holder = WorkerProcess.Start(SyncTasks.AcquireAndForget, gate))
        {
            Assert.True(await holder.Result.WaitAsync(Bounds.Unexpected));
            await holder.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
            Assert.Equal(0, holder.ExitCode);
        }
        using LockReleaser taken = gate.Acquire(Bounds.Unexpected);
        Assert.True(taken.IsAbandoned);
    }

    [Fact]
    public void TryAcquire_OwnerIsOurPidWithAnotherStartTime_TreatsItAsDead()
    {
        using var gate = SharedLock.Create();
        // A process that had our pid before us died holding the lock: the pid alone looks alive.
        gate.OwnerWord = ProcessIdentity.Of(Environment.ProcessId, Libc.ReadProcessStatus(Environment.ProcessId).StartTicks + 12_345);
        using LockReleaser? taken = gate.TryAcquire();
        Assert.NotNull(taken);
        Assert.True(taken.IsAbandoned);
    }

    [Fact]
    public void TryAcquire_OwnerPidReusedByALiveProcess_TreatsItAsDead()
    {
        using var gate = SharedLock.Create();
        int pid = Libc.GetParentProcessId();
        Libc.ProcessStatus parent = Libc.ReadProcessStatus(pid);
        Assert.True(parent.Exists);
        gate.OwnerWord = ProcessIdentity.Of(pid, parent.StartTicks + 1);
        using LockReleaser? taken = gate.TryAcquire();
        Assert.NotNull(taken);
        Assert.True(taken.IsAbandoned);
    }

    [Fact]
    public void TryAcquire_OwnerAlive_WaitsOutTheTimeoutAndReturnsNull()
    {
        using var gate = SharedLock.Create();
        int pid = Libc.GetParentProcessId();
        gate.OwnerWord = ProcessIdentity.Of(pid, Libc.ReadProcessStatus(pid).StartTicks);
        // Longer than a liveness slice, so the owner's liveness is checked (and found alive).
        Assert.Null(gate.TryAcquire(FutexWait.Slice * 2));
        Assert.Null(gate.TryAcquire());
    }

    [Fact]
    public void Acquire_Timeout_ThrowsTimeoutException_AndTryAcquireReturnsNull()
    {
        using var gate = SharedLock.Create();
        using LockReleaser held = gate.Acquire();
        Assert.Throws<TimeoutException>(() => gate.Acquire(TimeSpan.FromMilliseconds(50)));
        Assert.Null(gate.TryAcquire(TimeSpan.FromMilliseconds(50)));
        Assert.Null(gate.TryAcquire());
        Assert.Equal(0, gate.WaiterCount);
    }

    [Fact]
    public async Task AcquireAsync_Timeout_ThrowsTimeoutException_AndTryAcquireAsyncReturnsNull()
    {
        using var gate = SharedLock.Create();
        using LockReleaser held = gate.Acquire();
        await Assert.ThrowsAsync<TimeoutException>(() => gate.AcquireAsync(TimeSpan.FromMilliseconds(50)).AsTask());
        Assert.Null(await gate.TryAcquireAsync(TimeSpan.FromMilliseconds(50)));
        Assert.Equal(0, gate.WaiterCount);
    }

    [Fact]
    public async Task Acquire_Cancelled_ThrowsOperationCanceled_SyncAndAsync()
    {
        using var gate = SharedLock.Create();
        using LockReleaser held = gate.Acquire();
        using var cancel = new CancellationTokenSource();
        Task sync = Task.Run(() => gate.Acquire(Bounds.Unexpected, cancel.Token));
        Task async = gate.AcquireAsync(Bounds.Unexpected, cancel.Token).AsTask();
        await Wait.UntilAsync(() => gate.WaiterCount == 2, "both acquirers wait");
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sync.WaitAsync(Bounds.Unexpected));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => async.WaitAsync(Bounds.Unexpected));
        Assert.Equal(0, gate.WaiterCount);
        Assert.Throws<OperationCanceledException>(() => gate.Acquire(cancel.Token));
    }

    [Fact]
    public async Task Dispose_WhileWaitersWait_TheyGetObjectDisposedException()
    {
        var gate = SharedLock.Create();
        LockReleaser held = gate.Acquire();
        Task sync = Task.Run(() => gate.Acquire(Bounds.Unexpected));
        Task async = gate.AcquireAsync(Bounds.Unexpected).AsTask();
        await Wait.UntilAsync(() => gate.WaiterCount == 2, "both acquirers wait");
        gate.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => sync.WaitAsync(Bounds.Unexpected));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => async.WaitAsync(Bounds.Unexpected));
        held.Dispose(); // after disposal: nothing to release, and no exception
        Assert.Throws<ObjectDisposedException>(() => gate.TryAcquire());
    }

    [Fact]
    public async Task Dispose_ByTheCreator_ReleasesAWaiterInAnotherProcess()
    {
        var gate = SharedLock.Create();
        using var waiting = SharedValue<int>.Create();
        LockReleaser held = gate.Acquire();
        using var child = WorkerProcess.Start(SyncTasks.AcquireExpectingDisposal, (gate, waiting));
        await Wait.UntilAsync(() => Volatile.Read(ref waiting.Value) == 1 && gate.WaiterCount == 1, $"worker {child.Id} waits for the lock");
        gate.Dispose();
        Assert.Equal("disposed", await child.Result.WaitAsync(Bounds.Unexpected));
        held.Dispose();
    }

    [Fact]
    public async Task Release_FromAnotherThreadOfTheOwningProcess_Works()
    {
        using var gate = SharedLock.Create();
        LockReleaser held = gate.Acquire();
        await Task.Run(held.Dispose);
        Assert.False(held.IsHeld);
        held.Dispose(); // idempotent
        using LockReleaser again = gate.TryAcquire() ?? throw new Xunit.Sdk.XunitException("the lock should be free");
        Assert.Null(gate.TryAcquire()); // not re-entrant: ownership is per process, one holder at a time
    }

    [Fact]
    public async Task MapAsync_LockPassedToPoolTasks_IsAttachedToTheSameWord()
    {
        using var gate = SharedLock.Create();
        using var counter = SharedValue<long>.Create();
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        await pool.MapAsync(SyncTasks.IncrementUnderLock, Enumerable.Repeat((gate, counter, 5_000), 8), new MapOptions { ChunkSize = 1 }).WaitAsync(Bounds.Unexpected);
        Assert.Equal(40_000L, Volatile.Read(ref counter.Value));
    }

    [Fact]
    public void Open_ByName_SharesTheLock()
    {
        string name = $"lock-test-{Guid.NewGuid():N}";
        using var gate = SharedLock.Create(name);
        using var opened = SharedLock.Open(name);
        using LockReleaser held = gate.Acquire();
        Assert.Null(opened.TryAcquire());
        held.Dispose();
        using LockReleaser? taken = opened.TryAcquire();
        Assert.NotNull(taken);
        Assert.Throws<SharedMemoryException>(() => SharedSemaphore.Open(name));
    }
}
