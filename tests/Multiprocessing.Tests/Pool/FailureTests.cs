namespace Multiprocessing.Tests.Pool;

/// <summary>Every way a task or a worker can fail: the pool reports it precisely and keeps working.</summary>
public sealed class FailureTests
{
    [Fact]
    public async Task MapAsync_TaskThrows_FaultsWithRemoteTypeMessageStackAndItem()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        WorkerException error = await Assert.ThrowsAsync<WorkerException>(() => pool.MapAsync(Tasks.Throw, Enumerable.Range(0, 100)).WaitAsync(Bounds.Unexpected));
        Assert.Equal("System.InvalidOperationException", error.RemoteTypeName);
        Assert.Contains("thirteen is unlucky (13)", error.Message);
        Assert.Equal(13, error.ItemIndex);
        Assert.Contains(nameof(Tasks.Throw), error.RemoteStackTrace);
        Assert.Contains("item 13", error.Message);
        Assert.Equal(4, await pool.SubmitAsync(Tasks.Square, 2).WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task SubmitAsync_WorkerIsKilled_FailsOnlyThatTaskAndTheRestComplete()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        Task<int>[] tasks = Enumerable.Range(0, 40).Select(i => pool.SubmitAsync(Tasks.SignalSelfAt, (i, 13, "KILL"))).ToArray();
        for (int i = 0; i < tasks.Length; i++)
        {
            if (i == 13)
            {
                WorkerCrashedException crash = await Assert.ThrowsAsync<WorkerCrashedException>(() => tasks[i].WaitAsync(Bounds.Unexpected));
                Assert.Equal(9, crash.Signal);
                Assert.Contains("signal 9", crash.Message);
            }
            else
            {
                Assert.Equal(i * 10, await tasks[i].WaitAsync(Bounds.Unexpected));
            }
        }
        await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
        Assert.Equal(2, pool.WorkerProcessIds.Count);
    }

    [Fact]
    public async Task WorkerKilledWhileResultsAreBatched_TheFinishedOnesStillArrive_OnlyTheRunningOneFails()
    {
        // Batching forced for every unit: results of finished units sit in the journal (shared
        // memory), unsent, while the next unit runs; the one that kills its worker must not take
        // them along, and must not make them look like the task that was running. Whether the
        // journal held any at the moment of the kill depends on timing (its flush thread sends them
        // after about a millisecond), so the scenario runs until one kill found it full, and every
        // run must be right either way.
        long fromJournal = 0;
        for (int attempt = 0; attempt < 5 && fromJournal == 0; attempt++)
        {
            await using var pool = new ProcessPool(new ProcessPoolOptions
            {
                Workers = 1,
                WorkerEnvironment = new Dictionary<string, string?> { [Multiprocessing.WorkerRuntime.ResultSender.BatchAlwaysVariable] = "1" },
            });
            await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
            Task<int>[] tasks = Enumerable.Range(0, 200).Select(i => pool.SubmitAsync(Tasks.KillSelfAt, (i, 150))).ToArray();
            for (int i = 0; i < tasks.Length; i++)
            {
                if (i == 150)
                {
                    WorkerCrashedException crash = await Assert.ThrowsAsync<WorkerCrashedException>(() => tasks[i].WaitAsync(Bounds.Unexpected));
                    Assert.Equal(9, crash.Signal);
                }
                else
                {
                    Assert.Equal(i * 10, await tasks[i].WaitAsync(Bounds.Unexpected));
                }
            }
            fromJournal = pool.JournaledResultsForTesting;
        }
        Assert.True(fromJournal > 0, "in five runs no result came from a dead worker's journal, so this test did not exercise it");
    }

    [Fact]
    public async Task BatchedResult_DoesNotWaitForTheSlowUnitAfterIt()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions
        {
            Workers = 1,
            WorkerEnvironment = new Dictionary<string, string?> { [Multiprocessing.WorkerRuntime.ResultSender.BatchAlwaysVariable] = "1" },
            ShutdownTimeout = TimeSpan.Zero,
        });
        await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
        Task<int> quick = pool.SubmitAsync(Tasks.Square, 7);
        Task<int> endless = pool.SubmitAsync(Tasks.SleepForever, 1);
        Assert.Equal(49, await quick.WaitAsync(Bounds.Unexpected));
        Assert.False(endless.IsCompleted);
    }

    [Fact]
    public async Task SubmitAsync_NativeCrash_FailsOnlyThatTaskAndTheRestComplete()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        Task<int>[] tasks = Enumerable.Range(0, 20).Select(i => pool.SubmitAsync(Tasks.CrashAt, (i, 7))).ToArray();
        for (int i = 0; i < tasks.Length; i++)
        {
            if (i == 7)
            {
                WorkerCrashedException crash = await Assert.ThrowsAsync<WorkerCrashedException>(() => tasks[i].WaitAsync(Bounds.Unexpected));
                Assert.NotNull(crash.ExitCode);
                Assert.NotEqual(0, crash.ExitCode);
            }
            else
            {
                Assert.Equal(i * 10, await tasks[i].WaitAsync(Bounds.Unexpected));
            }
        }
    }

    [Fact]
    public async Task MapAsync_WorkerFailsFast_ReportsTheItemAndSigabrt()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        WorkerCrashedException crash = await Assert.ThrowsAsync<WorkerCrashedException>(
            () => pool.MapAsync(Tasks.FailFastAt, Enumerable.Range(0, 30).Select(i => (i, 21)), new MapOptions { ChunkSize = 4 }).WaitAsync(Bounds.Unexpected));
        Assert.Equal(21, crash.ItemIndex);
        Assert.Equal(6, crash.Signal);
        int[] after = await pool.MapAsync(Tasks.FailFastAt, Enumerable.Range(0, 3).Select(i => (i, -1))).WaitAsync(Bounds.Unexpected);
        Assert.Equal(new[] { 0, 10, 20 }, after);
    }

    [Fact]
    public async Task SubmitAsync_StackOverflow_FailsTheTaskNotThePool()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        WorkerCrashedException crash = await Assert.ThrowsAsync<WorkerCrashedException>(() => pool.SubmitAsync(Tasks.Recurse, 0).WaitAsync(Bounds.Unexpected));
        Assert.Contains("Stack overflow", crash.Message);
        Assert.Equal(9, await pool.SubmitAsync(Tasks.Square, 3).WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task SubmitAsync_TaskExceedsTimeout_FaultsWithTimeoutAndWorkerIsReplaced()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, TaskTimeout = TimeSpan.FromMilliseconds(300) });
        int before = await pool.SubmitAsync(Tasks.Pid, 0).WaitAsync(Bounds.Unexpected);
        TimeoutException timeout = await Assert.ThrowsAsync<TimeoutException>(() => pool.SubmitAsync(Tasks.SleepForever, 1).WaitAsync(Bounds.Unexpected));
        Assert.Contains("TaskTimeout", timeout.Message);
        int after = await pool.SubmitAsync(Tasks.Pid, 0).WaitAsync(Bounds.Unexpected);
        Assert.NotEqual(before, after);
        await Wait.UntilAsync(() => !Wait.ProcessExists(before), $"the timed-out worker {before} is gone");
        Assert.Empty(Directory.GetFiles(Path.GetTempPath(), $"clr-debug-pipe-{before}-*"));
    }

    [Fact]
    public async Task SubmitAsync_CancelledWhileRunning_CompletesAtOnceAndTheWorkerSeesItsToken()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        string marker = Path.Combine(Path.GetTempPath(), $"mp-cancel-{Guid.NewGuid():N}");
        try
        {
            using var cts = new CancellationTokenSource();
            Task<int> task = pool.SubmitAsync(Tasks.WaitForCancellation, marker, cts.Token);
            await Wait.UntilAsync(() => File.Exists(marker + ".started"), "the task started in the worker");
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task.WaitAsync(TimeSpan.FromSeconds(5)));
            await Wait.UntilAsync(() => File.Exists(marker), "the worker saw its token cancelled");
            Assert.Equal(16, await pool.SubmitAsync(Tasks.Square, 4).WaitAsync(Bounds.Unexpected));
        }
        finally
        {
            File.Delete(marker);
            File.Delete(marker + ".started");
        }
    }

    [Fact]
    public async Task SubmitAsync_CancelledWhileQueued_CompletesAtOnceAndNeverRuns()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, CancellationGracePeriod = TimeSpan.FromMilliseconds(200) });
        string path = Path.Combine(Path.GetTempPath(), $"mp-queued-{Guid.NewGuid():N}.txt");
        try
        {
            using var blockerCts = new CancellationTokenSource();
            Task<int> blocker = pool.SubmitAsync(Tasks.SleepForever, 1, blockerCts.Token);
            using var cts = new CancellationTokenSource();
            Task queued = pool.SubmitAsync(Tasks.AppendLine, (path, 7), cts.Token);
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued.WaitAsync(TimeSpan.FromSeconds(5)));
            blockerCts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocker.WaitAsync(Bounds.Unexpected));
            // The next task runs on the replacement worker, after the queue has been served.
            await pool.SubmitAsync(Tasks.AppendLine, (path, 8)).WaitAsync(Bounds.Unexpected);
            Assert.Equal(["8"], File.ReadAllLines(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task SubmitAsync_CancelledTaskIgnoresToken_WorkerIsKilledAfterGrace()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, CancellationGracePeriod = TimeSpan.FromMilliseconds(200) });
        int before = await pool.SubmitAsync(Tasks.Pid, 0).WaitAsync(Bounds.Unexpected);
        string marker = Path.Combine(Path.GetTempPath(), $"mp-stuck-{Guid.NewGuid():N}");
        try
        {
            using var cts = new CancellationTokenSource();
            Task<int> stuck = pool.SubmitAsync(Tasks.SleepForeverAfterMarker, marker, cts.Token);
            Task<int> queued = pool.SubmitAsync(Tasks.Square, 5);
            await Wait.UntilAsync(() => File.Exists(marker), "the task that ignores its token started");
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stuck.WaitAsync(Bounds.Unexpected));
            Assert.Equal(25, await queued.WaitAsync(Bounds.Unexpected));
            await Wait.UntilAsync(() => !Wait.ProcessExists(before), "the worker that ignored cancellation is killed");
        }
        finally
        {
            File.Delete(marker);
        }
    }

    [Fact]
    public async Task MapAsync_Cancelled_CompletesAsCancelledAndPoolStaysUsable()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, CancellationGracePeriod = TimeSpan.FromMilliseconds(200) });
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pool.MapAsync(Tasks.SleepForever, Enumerable.Range(0, 10), null, cts.Token).WaitAsync(Bounds.Unexpected));
        int[] after = await pool.MapAsync(Tasks.Square, new[] { 0, 1, 2 }).WaitAsync(Bounds.Unexpected);
        Assert.Equal(new[] { 0, 1, 4 }, after);
    }

    [Fact]
    public async Task Initializer_Throws_PoolReportsItInsteadOfRestartingInALoop()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, Initializer = Tasks.InitializeAndThrow });
        WorkerStartException error = await Assert.ThrowsAsync<WorkerStartException>(() => pool.SubmitAsync(Tasks.Square, 1).WaitAsync(Bounds.Unexpected));
        Assert.Contains("model.bin is missing", error.Message);
        Assert.Contains(nameof(Tasks.InitializeAndThrow), error.Message);
        await Assert.ThrowsAsync<WorkerStartException>(() => pool.SubmitAsync(Tasks.Square, 2).WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task WorkerRuntimeFailsBeforeConnecting_WorkerStartExceptionCarriesItsLastErrorOutput()
    {
        // A GC heap limit far too small for the runtime: CoreCLR prints why on stderr and exits before the worker connects.
        var options = new ProcessPoolOptions { Workers = 1, WorkerEnvironment = new Dictionary<string, string?> { ["DOTNET_GCHeapHardLimit"] = "0x10000" } };
        await using var pool = new ProcessPool(options);
        WorkerStartException error = await Assert.ThrowsAsync<WorkerStartException>(() => pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected));
        Assert.Contains("ended before connecting", error.Message, StringComparison.Ordinal);
        Assert.Contains("GC heap initialization failed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WorkerSendsMalformedFrame_WorkerIsStoppedWithAClearErrorAndPoolContinues()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        WorkerCrashedException crash = await Assert.ThrowsAsync<WorkerCrashedException>(() => pool.SubmitAsync(Tasks.CorruptChannel, 0).WaitAsync(Bounds.Unexpected));
        Assert.Contains("frame", crash.Message);
        Assert.Equal(36, await pool.SubmitAsync(Tasks.Square, 6).WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task ParentSendsMalformedFrame_WorkerStopsItselfAndIsReplaced()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        int before = await pool.SubmitAsync(Tasks.Pid, 0).WaitAsync(Bounds.Unexpected);
        Assert.True(pool.SendRawForTesting(before, [0xff, 0xff, 0xff, 0x7f, 3]));
        await Wait.UntilAsync(() => !Wait.ProcessExists(before), "the worker that received a corrupt frame exits");
        int after = await pool.SubmitAsync(Tasks.Pid, 0).WaitAsync(Bounds.Unexpected);
        Assert.NotEqual(before, after);
    }
}
