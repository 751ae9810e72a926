namespace Multiprocessing.Tests.Observability;

/// <summary>The "Multiprocessing" meter, read with a MeterListener, for one uniquely named pool per test.</summary>
public sealed class MetricsTests
{
    private static string UniqueName() => "metrics-" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task Meter_MapAsync_SubmittedCompletedAndDurationsCountItemsNotChunks()
    {
        string name = UniqueName();
        using var metrics = new MetricsCapture(name);
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, Name = name });
        int[] squares = await pool.MapAsync(Tasks.Square, Enumerable.Range(0, 1000), new MapOptions { ChunkSize = 64 }).WaitAsync(Bounds.Unexpected);
        Assert.Equal(1000, squares.Length);

        await Wait.UntilAsync(() => metrics.Sum(ProcessPoolMetrics.TasksCompleted) >= 1000, "1000 completed tasks are counted");
        Assert.Equal(1000, metrics.Sum(ProcessPoolMetrics.TasksSubmitted));
        Assert.Equal(1000, metrics.Sum(ProcessPoolMetrics.TasksCompleted));
        Assert.Equal(0, metrics.Sum(ProcessPoolMetrics.TasksFailed));
        await Wait.UntilAsync(() => metrics.Of(ProcessPoolMetrics.TaskDuration).Count() >= 1000, "1000 durations are recorded");
        Assert.Equal(1000, metrics.Of(ProcessPoolMetrics.TaskDuration).Count());
        Assert.All(metrics.Of(ProcessPoolMetrics.TaskDuration), d => Assert.True(d.Value >= 0));
    }

    [Fact]
    public async Task Meter_SubmitAsync_TaskThrows_CountsOneFailedAndTheOthersCompleted()
    {
        string name = UniqueName();
        using var metrics = new MetricsCapture(name);
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, Name = name });
        Task<int>[] tasks = Enumerable.Range(10, 5).Select(i => pool.SubmitAsync(Tasks.Throw, i)).ToArray();
        await Assert.ThrowsAsync<WorkerException>(() => tasks[3].WaitAsync(Bounds.Unexpected));
        await Task.WhenAll(tasks.Where((_, i) => i != 3)).WaitAsync(Bounds.Unexpected);

        await Wait.UntilAsync(() => metrics.Sum(ProcessPoolMetrics.TasksCompleted) + metrics.Sum(ProcessPoolMetrics.TasksFailed) >= 5, "5 outcomes are counted");
        Assert.Equal(5, metrics.Sum(ProcessPoolMetrics.TasksSubmitted));
        Assert.Equal(4, metrics.Sum(ProcessPoolMetrics.TasksCompleted));
        Assert.Equal(1, metrics.Sum(ProcessPoolMetrics.TasksFailed));
    }

    [Fact]
    public async Task Meter_MaxTasksPerWorker_CountsRestartsWithReason()
    {
        string name = UniqueName();
        using var metrics = new MetricsCapture(name);
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, MaxTasksPerWorker = 1, Name = name });
        for (int i = 0; i < 3; i++)
        {
            await pool.SubmitAsync(Tasks.Square, i).WaitAsync(Bounds.Unexpected);
        }

        await Wait.UntilAsync(() => metrics.Sum(ProcessPoolMetrics.WorkerRestarts) >= 3, "three restarts are counted");
        Assert.All(metrics.Of(ProcessPoolMetrics.WorkerRestarts), m => Assert.Equal("max_tasks", m.Tags[ProcessPoolMetrics.ReasonTag]));
    }

    [Fact]
    public async Task Meter_WorkerCrashes_CountsACrashRestartAndAFailedTask()
    {
        string name = UniqueName();
        using var metrics = new MetricsCapture(name);
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, Name = name });
        await Assert.ThrowsAsync<WorkerCrashedException>(() => pool.SubmitAsync(Tasks.FailFastAt, (3, 3)).WaitAsync(Bounds.Unexpected));

        await Wait.UntilAsync(() => metrics.Of(ProcessPoolMetrics.WorkerRestarts).Any(m => Equals(m.Tags[ProcessPoolMetrics.ReasonTag], "crash")), "a crash restart is counted");
        Assert.Equal(1, metrics.Sum(ProcessPoolMetrics.TasksFailed));
    }

    [Fact]
    public async Task Meter_Observed_ReportsPssPerWorkerPidAndPoolGauges()
    {
        string name = UniqueName();
        using var metrics = new MetricsCapture(name);
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, Name = name });
        await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
        IReadOnlyList<int> pids = pool.WorkerProcessIds;

        metrics.Observe();

        MeasurementEntry[] pss = metrics.Of(ProcessPoolMetrics.WorkerPss).ToArray();
        Assert.Equal(pids.Order(), pss.Select(m => (int)m.Tags[ProcessPoolMetrics.PidTag]!).Order());
        Assert.All(pss, m => Assert.True(m.Value > 0, "a worker's PSS is positive"));
        Assert.Equal(2, metrics.Of(ProcessPoolMetrics.Workers).Single().Value);
        Assert.Equal(0, metrics.Of(ProcessPoolMetrics.QueueLength).Single().Value);
        Assert.Equal(0, metrics.Of(ProcessPoolMetrics.BusyWorkers).Single().Value);
    }

    [Fact]
    public async Task Meter_TasksHeldByWorkers_BusyAndQueueGaugesSeeThem()
    {
        string name = UniqueName();
        using var metrics = new MetricsCapture(name);
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, Name = name, CancellationGracePeriod = TimeSpan.Zero });
        using var cancel = new CancellationTokenSource();
        string marker = Path.Combine(Path.GetTempPath(), "mp-metrics-" + Guid.NewGuid().ToString("N"));
        try
        {
            Task<int> running = pool.SubmitAsync(Tasks.SleepForeverAfterMarker, marker, cancel.Token);
            // Queued behind it: the worker holds at most a couple of tasks, the rest wait in the pool.
            Task<int>[] queued = Enumerable.Range(0, 10).Select(i => pool.SubmitAsync(Tasks.Square, i, cancel.Token)).ToArray();
            await Wait.UntilAsync(() => File.Exists(marker), "the long task starts");

            metrics.Observe();
            Assert.Equal(1, metrics.Of(ProcessPoolMetrics.BusyWorkers).Single().Value);
            Assert.InRange(metrics.Of(ProcessPoolMetrics.QueueLength).Single().Value, 1, 10);
            cancel.Cancel();
        }
        finally
        {
            File.Delete(marker);
        }
    }
}
