namespace Multiprocessing.Tests.Synchronization;

public sealed class SharedBarrierTests
{
    [Fact]
    public async Task SignalAndWait_FourProcesses_StayInStepPhaseAfterPhase()
    {
        const int Phases = 50;
        using var barrier = SharedBarrier.Create(participants: 4);
        using var progress = SharedArray<int>.Create(4);
        var children = Enumerable.Range(0, 4).Select(i => WorkerProcess.Start(SyncTasks.StepInPhase, (barrier, progress, i, Phases))).ToList();
        try
        {
            int[] violations = await Task.WhenAll(children.Select(c => c.Result)).WaitAsync(Bounds.Unexpected);
            Assert.All(violations, v => Assert.Equal(0, v));
        }
        finally
        {
            children.ForEach(c => c.Dispose());
        }
        Assert.Equal(Phases, barrier.CurrentPhaseNumber);
        Assert.Equal(4, barrier.ParticipantsRemaining);
    }

    [Fact]
    public async Task SignalAndWait_InProcess_SyncAndAsyncCompleteAPhase()
    {
        using var barrier = SharedBarrier.Create(participants: 3);
        Task sync = Task.Run(() => barrier.SignalAndWait(Bounds.Unexpected));
        Task async = barrier.SignalAndWaitAsync(Bounds.Unexpected).AsTask();
        await Wait.UntilAsync(() => barrier.ParticipantsRemaining == 1, "two participants have arrived");
        Assert.Equal(0, barrier.CurrentPhaseNumber);
        barrier.SignalAndWait(Bounds.Unexpected);
        await Task.WhenAll(sync, async).WaitAsync(Bounds.Unexpected);
        Assert.Equal(1, barrier.CurrentPhaseNumber);
    }

    [Fact]
    public async Task SignalAndWait_AParticipantDies_OthersTimeOut_ThenCarryOnWithoutIt()
    {
        using var barrier = SharedBarrier.Create(participants: 2);
        using (var vanished = WorkerProcess.Start(SyncTasks.Vanish, barrier))
        {
            vanished.Kill();
            await vanished.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
        }
        Assert.Throws<TimeoutException>(() => barrier.SignalAndWait(TimeSpan.FromMilliseconds(100)));
        Assert.False(await barrier.TrySignalAndWaitAsync(TimeSpan.FromMilliseconds(100)));
        Assert.Equal(2, barrier.ParticipantsRemaining); // the timed-out arrivals were withdrawn
        Assert.Equal(0, barrier.CurrentPhaseNumber);

        barrier.RemoveParticipant();
        Assert.True(barrier.TrySignalAndWait(Bounds.Unexpected));
        Assert.Equal(1, barrier.CurrentPhaseNumber);
    }

    [Fact]
    public async Task RemoveParticipant_WhenTheOthersHaveArrived_CompletesThePhase()
    {
        using var barrier = SharedBarrier.Create(participants: 2);
        Task waiting = barrier.SignalAndWaitAsync(Bounds.Unexpected).AsTask();
        await Wait.UntilAsync(() => barrier.ParticipantsRemaining == 1, "one participant has arrived");
        barrier.RemoveParticipant();
        await waiting.WaitAsync(Bounds.Unexpected);
        Assert.Equal(1, barrier.CurrentPhaseNumber);
        Assert.Throws<InvalidOperationException>(barrier.RemoveParticipant);
    }

    [Fact]
    public async Task SignalAndWait_Cancelled_WithdrawsTheArrival()
    {
        using var barrier = SharedBarrier.Create(participants: 3);
        using var cancel = new CancellationTokenSource();
        Task sync = Task.Run(() => barrier.SignalAndWait(cancel.Token));
        Task async = barrier.SignalAndWaitAsync(cancel.Token).AsTask();
        await Wait.UntilAsync(() => barrier.ParticipantsRemaining == 1, "two participants have arrived");
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sync.WaitAsync(Bounds.Unexpected));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => async.WaitAsync(Bounds.Unexpected));
        Assert.Equal(3, barrier.ParticipantsRemaining);
    }

    [Fact]
    public async Task Dispose_WhileParticipantsWait_TheyGetObjectDisposedException()
    {
        var barrier = SharedBarrier.Create(participants: 3);
        Task sync = Task.Run(() => barrier.SignalAndWait(Bounds.Unexpected));
        Task async = barrier.SignalAndWaitAsync(Bounds.Unexpected).AsTask();
        await Wait.UntilAsync(() => barrier.ParticipantsRemaining == 1, "two participants have arrived");
        barrier.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => sync.WaitAsync(Bounds.Unexpected));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => async.WaitAsync(Bounds.Unexpected));
    }
}
