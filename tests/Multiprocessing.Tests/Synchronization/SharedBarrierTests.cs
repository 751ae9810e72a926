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
    public async Task SignalAndWait_AWaitingParticipantDies_ItsArrivalStillCompletesThePhase()
    {
        using var barrier = SharedBarrier.Create(participants: 2);
        using (var dying = WorkerProcess.Start(SyncTasks.ArriveAndReport, (barrier, false)))
        {
            await Wait.UntilAsync(() => barrier.ParticipantsRemaining == 1, "the other participant has arrived");
            dying.Kill();
            await dying.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
        }
        barrier.SignalAndWait(Bounds.Unexpected);
        Assert.Equal(1, barrier.CurrentPhaseNumber);
        Assert.False(barrier.IsBroken);
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

    [Fact]
    public async Task Abort_WhileOthersWaitInOtherProcesses_TheyAndLaterArrivalsGetBarrierBrokenException()
    {
        using var barrier = SharedBarrier.Create(participants: 3);
        using var sync = WorkerProcess.Start(SyncTasks.ArriveAndReport, (barrier, false));
        using var async = WorkerProcess.Start(SyncTasks.ArriveAndReport, (barrier, true));
        await Wait.UntilAsync(() => barrier.ParticipantsRemaining == 1, "two participants have arrived");
        Assert.False(barrier.IsBroken);

        barrier.Abort();

        foreach (string outcome in await Task.WhenAll(sync.Result, async.Result).WaitAsync(Bounds.Unexpected))
        {
            Assert.StartsWith("broken: The SharedBarrier broke while this participant waited", outcome);
        }
        Assert.True(barrier.IsBroken);
        BarrierBrokenException later = Assert.Throws<BarrierBrokenException>(() => barrier.SignalAndWait(Bounds.Unexpected));
        Assert.Contains("call Reset", later.Message);
        await Assert.ThrowsAsync<BarrierBrokenException>(() => barrier.SignalAndWaitAsync(Bounds.Unexpected).AsTask());
        Assert.Throws<BarrierBrokenException>(() => barrier.TrySignalAndWait(TimeSpan.Zero));
        barrier.Abort(); // already broken: nothing changes
        Assert.True(barrier.IsBroken);
    }

    [Fact]
    public async Task Abort_ByAParticipantThatTimedOut_ReleasesTheOthers()
    {
        using var barrier = SharedBarrier.Create(participants: 3);
        using var patient = WorkerProcess.Start(SyncTasks.ArriveAndReport, (barrier, false));
        await Wait.UntilAsync(() => barrier.ParticipantsRemaining == 2, "the patient participant has arrived");
        using var impatient = WorkerProcess.Start(SyncTasks.ArriveOrAbort, (barrier, 100));

        Assert.False(await impatient.Result.WaitAsync(Bounds.Unexpected));
        Assert.StartsWith("broken: ", await patient.Result.WaitAsync(Bounds.Unexpected));
        Assert.True(barrier.IsBroken);
    }

    [Fact]
    public async Task Reset_WhileOthersWait_TheyGetBarrierBrokenException_ThenTheBarrierWorksAgain()
    {
        using var barrier = SharedBarrier.Create(participants: 2);
        using (var waiting = WorkerProcess.Start(SyncTasks.ArriveAndReport, (barrier, true)))
        {
            await Wait.UntilAsync(() => barrier.ParticipantsRemaining == 1, "one participant has arrived");
            barrier.Reset();
            Assert.StartsWith("broken: The SharedBarrier was reset", await waiting.Result.WaitAsync(Bounds.Unexpected));
        }
        Assert.False(barrier.IsBroken);
        Assert.Equal(2, barrier.ParticipantsRemaining);

        using (var partner = WorkerProcess.Start(SyncTasks.ArriveAndReport, (barrier, false)))
        {
            barrier.SignalAndWait(Bounds.Unexpected);
            Assert.Equal("completed", await partner.Result.WaitAsync(Bounds.Unexpected));
        }

        barrier.Abort();
        barrier.Reset();
        Assert.False(barrier.IsBroken);
        using (var partner = WorkerProcess.Start(SyncTasks.ArriveAndReport, (barrier, true)))
        {
            await barrier.SignalAndWaitAsync(Bounds.Unexpected);
            Assert.Equal("completed", await partner.Result.WaitAsync(Bounds.Unexpected));
        }
    }

    [Fact]
    public async Task PostPhaseAction_ThreeProcesses_RunsOncePerPhaseBeforeAnyoneIsReleased()
    {
        const int Phases = 30;
        using var barrier = SharedBarrier.Create(participants: 3);
        using var runs = SharedArray<int>.Create(Phases);
        var children = Enumerable.Range(0, 3).Select(_ => WorkerProcess.Start(SyncTasks.CountPhaseActions, (barrier, runs, Phases))).ToList();
        try
        {
            int[] violations = await Task.WhenAll(children.Select(c => c.Result)).WaitAsync(Bounds.Unexpected);
            Assert.All(violations, v => Assert.Equal(0, v));
        }
        finally
        {
            children.ForEach(c => c.Dispose());
        }
        Assert.All(runs.AsSpan().ToArray(), r => Assert.Equal(1, r));
        Assert.Equal(Phases, barrier.CurrentPhaseNumber);
    }

    [Fact]
    public async Task PostPhaseAction_Throws_BreaksTheBarrier_LastArriverGetsTheActionsException()
    {
        using var barrier = SharedBarrier.Create(participants: 2, static phase => throw new InvalidOperationException($"phase {phase} failed"));
        using var waiting = WorkerProcess.Start(SyncTasks.ArriveAndReport, (barrier, false));
        await Wait.UntilAsync(() => barrier.ParticipantsRemaining == 1, "the other participant has arrived");

        BarrierBrokenException last = Assert.Throws<BarrierBrokenException>(() => barrier.SignalAndWait(Bounds.Unexpected));

        Assert.Equal("phase 0 failed", Assert.IsType<InvalidOperationException>(last.InnerException).Message);
        Assert.Contains("post-phase action threw InvalidOperationException", last.Message);
        Assert.StartsWith("broken: The SharedBarrier broke while this participant waited", await waiting.Result.WaitAsync(Bounds.Unexpected));
        Assert.True(barrier.IsBroken);
    }

    [Fact]
    public async Task PostPhaseAction_Async_ThrowsThroughTheTask()
    {
        using var barrier = SharedBarrier.Create(participants: 1, static _ => throw new InvalidOperationException("no"));
        ValueTask arriving = barrier.SignalAndWaitAsync(Bounds.Unexpected);
        BarrierBrokenException last = await Assert.ThrowsAsync<BarrierBrokenException>(() => arriving.AsTask());
        Assert.IsType<InvalidOperationException>(last.InnerException);
        barrier.Reset();
        barrier.PostPhaseAction = null;
        await barrier.SignalAndWaitAsync(Bounds.Unexpected);
        Assert.Equal(3, barrier.CurrentPhaseNumber); // breaking, resetting and completing each start a phase number
    }

    [Fact]
    public async Task SignalAndWait_CancelledWhileThePostPhaseActionRuns_WaitsForItAndSucceeds()
    {
        using var release = SharedEvent.Create(manualReset: true);
        using var barrier = SharedBarrier.Create(participants: 3, _ => release.Wait(Bounds.Unexpected));
        using var cancel = new CancellationTokenSource();
        Task<bool> sync = Task.Run(() => barrier.TrySignalAndWait(Bounds.Unexpected, cancel.Token));
        Task<bool> async = barrier.TrySignalAndWaitAsync(Bounds.Unexpected, cancel.Token).AsTask();
        await Wait.UntilAsync(() => barrier.ParticipantsRemaining == 1, "two participants have arrived");
        Task last = Task.Run(() => barrier.SignalAndWait(Bounds.Unexpected));
        await Wait.UntilAsync(() => barrier.ParticipantsRemaining == 0, "the last participant runs the action");

        // Cancelled while the action runs: the phase is complete, so they wait for its outcome.
        cancel.Cancel();
        await Assert.ThrowsAsync<TimeoutException>(() => Task.WhenAny(sync, async).WaitAsync(Bounds.NotHappening));
        release.Set();
        Assert.True(await sync.WaitAsync(Bounds.Unexpected));
        Assert.True(await async.WaitAsync(Bounds.Unexpected));
        await last.WaitAsync(Bounds.Unexpected);
        Assert.Equal(1, barrier.CurrentPhaseNumber);
    }
}
