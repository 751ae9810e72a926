using Microsoft.Extensions.Logging;

namespace Multiprocessing.Tests.Observability;

/// <summary>The pool's log events, seen through a real logger factory while real workers start, crash, recycle and time out.</summary>
public sealed class LoggingTests
{
    [Fact]
    public async Task LoggerFactory_WorkersStart_LogsWorkerStartedWithEachPid()
    {
        using var capture = new LogCapture();
        using ILoggerFactory factory = capture.CreateFactory();
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, LoggerFactory = factory });
        await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
        foreach (int pid in pool.WorkerProcessIds)
        {
            LogEntry started = await capture.WaitForAsync(e => e.EventId.Id == ProcessPoolLogEvents.WorkerStarted && Equals(e["ProcessId"], pid), $"worker {pid} is logged as started");
            Assert.Equal(LogLevel.Information, started.Level);
            Assert.Equal(nameof(ProcessPoolLogEvents.WorkerStarted), started.EventId.Name);
            Assert.IsType<DateTimeOffset>(started["StartTime"]);
        }
    }

    [Fact]
    public async Task LoggerFactory_WorkerFailsFast_LogsWorkerCrashedWithPidTaskAndSignal()
    {
        using var capture = new LogCapture();
        using ILoggerFactory factory = capture.CreateFactory();
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, LoggerFactory = factory });
        WorkerCrashedException crash = await Assert.ThrowsAsync<WorkerCrashedException>(() => pool.SubmitAsync(Tasks.FailFastAt, (5, 5)).WaitAsync(Bounds.Unexpected));

        LogEntry crashed = await capture.WaitForAsync(e => e.EventId.Id == ProcessPoolLogEvents.WorkerCrashed && Equals(e["ProcessId"], crash.ProcessId), $"the crash of worker {crash.ProcessId} is logged");
        Assert.Equal(LogLevel.Error, crashed.Level);
        Assert.Contains(nameof(Tasks.FailFastAt), (string)crashed["Task"]!);
        Assert.Equal(6, crashed["Signal"]);
        Assert.Equal(crash.ExitCode, crashed["ExitCode"]);
        Assert.Equal(10, await pool.SubmitAsync(Tasks.FailFastAt, (1, -1)).WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task LoggerFactory_MapItemCrashesWorker_LogsTheItemIndex()
    {
        using var capture = new LogCapture();
        using ILoggerFactory factory = capture.CreateFactory();
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, LoggerFactory = factory });
        WorkerCrashedException crash = await Assert.ThrowsAsync<WorkerCrashedException>(
            () => pool.MapAsync(Tasks.CrashAt, Enumerable.Range(0, 20).Select(i => (i, 11)), new MapOptions { ChunkSize = 3 }).WaitAsync(Bounds.Unexpected));

        LogEntry crashed = await capture.WaitForAsync(e => e.EventId.Id == ProcessPoolLogEvents.WorkerCrashed && Equals(e["ProcessId"], crash.ProcessId), "the crash is logged");
        Assert.Equal(11L, crashed["ItemIndex"]);
        Assert.Contains("died while running item 11 of ", crashed.Message);
        Assert.Contains(nameof(Tasks.CrashAt), crashed.Message);
    }

    [Fact]
    public async Task LoggerFactory_MaxTasksPerWorkerIsOne_LogsRecycleWithReasonForEachWorker()
    {
        using var capture = new LogCapture();
        using ILoggerFactory factory = capture.CreateFactory();
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, MaxTasksPerWorker = 1, LoggerFactory = factory });
        var pids = new List<int>();
        for (int i = 0; i < 3; i++)
        {
            pids.Add(await pool.SubmitAsync(Tasks.Pid, i).WaitAsync(Bounds.Unexpected));
        }
        Assert.Equal(3, pids.Distinct().Count());

        foreach (int pid in pids)
        {
            LogEntry recycled = await capture.WaitForAsync(e => e.EventId.Id == ProcessPoolLogEvents.WorkerRecycled && Equals(e["ProcessId"], pid), $"worker {pid} is logged as recycled");
            Assert.Equal("MaxTasksPerWorker", recycled["Reason"]?.ToString());
            Assert.Equal(1L, recycled["TasksCompleted"]);
            Assert.Equal(0, recycled["ExitCode"]);
        }
        Assert.Empty(capture.WithEvent(ProcessPoolLogEvents.WorkerCrashed));
    }

    [Fact]
    public async Task LoggerFactory_TaskTimesOut_LogsTimeoutThenRecycle()
    {
        using var capture = new LogCapture();
        using ILoggerFactory factory = capture.CreateFactory();
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, TaskTimeout = TimeSpan.FromMilliseconds(300), LoggerFactory = factory });
        await Assert.ThrowsAsync<TimeoutException>(() => pool.SubmitAsync(Tasks.SleepForever, 1).WaitAsync(Bounds.Unexpected));

        LogEntry timedOut = await capture.WaitForAsync(e => e.EventId.Id == ProcessPoolLogEvents.TaskTimedOut, "the time-out is logged");
        Assert.Equal(LogLevel.Warning, timedOut.Level);
        Assert.Contains(nameof(Tasks.SleepForever), (string)timedOut["Task"]!);
        LogEntry recycled = await capture.WaitForAsync(e => e.EventId.Id == ProcessPoolLogEvents.WorkerRecycled && Equals(e["ProcessId"], timedOut["ProcessId"]), "the killed worker is logged as recycled");
        Assert.Equal("TaskTimeout", recycled["Reason"]?.ToString());
        Assert.Equal(9, recycled["Signal"]);
    }

    [Fact]
    public async Task LoggerFactory_InitializerThrows_LogsInitializerFailed()
    {
        using var capture = new LogCapture();
        using ILoggerFactory factory = capture.CreateFactory();
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, Initializer = Tasks.InitializeAndThrow, LoggerFactory = factory });
        await Assert.ThrowsAsync<WorkerStartException>(() => pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected));

        LogEntry failed = await capture.WaitForAsync(e => e.EventId.Id == ProcessPoolLogEvents.InitializerFailed, "the initializer failure is logged");
        Assert.Equal(LogLevel.Error, failed.Level);
        Assert.Equal("System.IO.FileNotFoundException", failed["ExceptionType"]);
        Assert.Contains("model.bin is missing", failed.Message);
    }

    [Fact]
    public async Task LoggerFactory_PoolDisposed_LogsWorkerExitedWithCodeZeroForEachWorker()
    {
        using var capture = new LogCapture();
        using ILoggerFactory factory = capture.CreateFactory();
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, LoggerFactory = factory });
        await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
        IReadOnlyList<int> pids = pool.WorkerProcessIds;
        await pool.DisposeAsync();

        foreach (int pid in pids)
        {
            LogEntry exited = await capture.WaitForAsync(e => e.EventId.Id == ProcessPoolLogEvents.WorkerExited && Equals(e["ProcessId"], pid), $"worker {pid} is logged as exited");
            Assert.Equal(0, exited["ExitCode"]);
            Assert.Null(exited["Signal"]);
            Assert.Equal($"Worker process {pid} exited (exit code 0)", exited.Message);
        }
        Assert.Empty(capture.WithEvent(ProcessPoolLogEvents.WorkerCrashed));
    }

    [Fact]
    public async Task LoggerFactory_WorkerWritesToStdoutAndStderr_LinesReachTheWorkerLoggerWithPid()
    {
        using var capture = new LogCapture();
        using ILoggerFactory factory = capture.CreateFactory();
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, LoggerFactory = factory });
        string tag = Guid.NewGuid().ToString("N");
        int pid = await pool.SubmitAsync(ObservabilityTasks.WriteLines, tag).WaitAsync(Bounds.Unexpected);

        LogEntry error = await capture.WaitForAsync(e => e.Category == ProcessPoolLogEvents.WorkerCategory && Equals(e["Line"], "err " + tag), "the stderr line reaches the logger");
        Assert.Equal(LogLevel.Warning, error.Level);
        Assert.Equal(ProcessPoolLogEvents.WorkerStandardError, error.EventId.Id);
        Assert.Equal(pid, error["ProcessId"]);
        Assert.Contains($"[worker {pid}]", error.Message);

        LogEntry output = await capture.WaitForAsync(e => e.Category == ProcessPoolLogEvents.WorkerCategory && Equals(e["Line"], "out " + tag), "the stdout line reaches the logger");
        Assert.Equal(LogLevel.Information, output.Level);
        Assert.Equal(ProcessPoolLogEvents.WorkerStandardOutput, output.EventId.Id);
        Assert.Equal(pid, output["ProcessId"]);
    }

    [Fact]
    public async Task LoggerFactory_WorkerWritesThenFailsFast_ItsLastLinesAreNotLost()
    {
        using var capture = new LogCapture();
        using ILoggerFactory factory = capture.CreateFactory();
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, LoggerFactory = factory });
        string tag = Guid.NewGuid().ToString("N");
        WorkerCrashedException crash = await Assert.ThrowsAsync<WorkerCrashedException>(() => pool.SubmitAsync(ObservabilityTasks.WriteThenFailFast, tag).WaitAsync(Bounds.Unexpected));

        LogEntry last = await capture.WaitForAsync(e => e.Category == ProcessPoolLogEvents.WorkerCategory && Equals(e["Line"], "last words " + tag), "the line written just before the crash reaches the logger");
        Assert.Equal(crash.ProcessId, last["ProcessId"]);
        await capture.WaitForAsync(e => e.Category == ProcessPoolLogEvents.WorkerCategory && e.Message.Contains("observability test: fail fast " + tag, StringComparison.Ordinal), "the runtime's own FailFast report reaches the logger");
    }
}
