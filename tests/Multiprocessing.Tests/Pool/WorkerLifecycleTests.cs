using System.Runtime.Serialization;
using Microsoft.Extensions.Logging;
using Multiprocessing.Tests.Observability;

namespace Multiprocessing.Tests.Pool;

/// <summary>
/// Per-worker set-up with an argument (<see cref="ProcessPoolOptions.WithInitializer{TArg}(Action{TArg}, TArg)"/>)
/// and the worker-exit hook (<see cref="ProcessPoolOptions.WorkerExit"/>), in real worker processes.
/// </summary>
public sealed class WorkerLifecycleTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mp-lifecycle-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string ExitFile => Path.Combine(_directory, "exits.txt");

    /// <summary>Options whose workers append their pid to <see cref="ExitFile"/> when they are stopped normally.</summary>
    private ProcessPoolOptions ExitRecording(int workers) => new()
    {
        Workers = workers,
        WorkerExit = LifecycleTasks.RecordExit,
        WorkerEnvironment = new Dictionary<string, string?> { [LifecycleTasks.ExitFileVariable] = ExitFile },
    };

    // Each worker records in a file of its own (ExitFile.PID): .NET appends by seeking to the end,
    // not with O_APPEND, so two workers appending to one file at once can overwrite each other.
    // A hook that ran twice in one worker writes its line twice.
    private int[] RecordedExits() => Directory.EnumerateFiles(_directory, Path.GetFileName(ExitFile) + ".*")
        .SelectMany(File.ReadAllLines).Where(l => l.Length > 0).Select(int.Parse).Order().ToArray();

    [Fact]
    public async Task WithInitializer_PathArgument_TasksSeeWhatTheInitializerLoaded()
    {
        string table = Path.Combine(_directory, "table.txt");
        await File.WriteAllTextAsync(table, "table 42");
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 }.WithInitializer(LifecycleTasks.LoadTable, table));

        string[] seen = await pool.MapAsync(LifecycleTasks.ReadTable, Enumerable.Range(0, 20), new MapOptions { ChunkSize = 1 }).WaitAsync(Bounds.Unexpected);

        Assert.All(seen, s => Assert.Equal("table 42", s));
    }

    [Fact]
    public async Task WithInitializer_SharedArray_InitializerReadsItIntoAStaticThatTasksReturn()
    {
        using var weights = SharedArray<int>.CreateFrom([3, 1, 4, 1, 5, 9]);
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 }.WithInitializer(LifecycleTasks.LoadWeights, weights));

        int[] sums = await pool.MapAsync(LifecycleTasks.WeightSum, Enumerable.Range(0, 10), new MapOptions { ChunkSize = 1 }).WaitAsync(Bounds.Unexpected);

        Assert.All(sums, s => Assert.Equal(23, s));
    }

    [Fact]
    public async Task WithInitializer_AsyncInitializerWithRecord_RunsBeforeTheFirstTask()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 }.WithInitializer(LifecycleTasks.LoadSettingsAsync, new Point(3, 4)));

        Assert.Equal("3,4", await pool.SubmitAsync(LifecycleTasks.ReadSettings, 0).WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task WithInitializer_ReplacementWorker_GetsTheSameArgument()
    {
        string table = Path.Combine(_directory, "table.txt");
        await File.WriteAllTextAsync(table, "table 7");
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, MaxTasksPerWorker = 1 }.WithInitializer(LifecycleTasks.LoadTable, table));

        var pids = new HashSet<int>();
        for (int i = 0; i < 3; i++)
        {
            (int pid, string seen) = await pool.SubmitAsync(LifecycleTasks.PidAndTable, i).WaitAsync(Bounds.Unexpected);
            Assert.Equal("table 7", seen);
            pids.Add(pid);
        }
        Assert.Equal(3, pids.Count);
    }

    [Fact]
    public void WithInitializer_ArgumentThatCannotBeSerialised_IsRefusedWhenThePoolIsCreated()
    {
        ProcessPoolOptions options = new ProcessPoolOptions { Workers = 1 }.WithInitializer(LifecycleTasks.TakeExploding, new BadInputTests.Exploding());

        SerializationException error = Assert.Throws<SerializationException>(() => new ProcessPool(options));

        // The wording a task's argument gets (ProcessPool.SubmitAsync).
        Assert.Contains("The argument of type", error.Message);
        Assert.Contains("Exploding", error.Message);
        Assert.Contains("cannot be sent to a worker process", error.Message);
    }

    [Fact]
    public void WithInitializer_CapturingLambda_IsRefusedWhenThePoolIsCreated()
    {
        int k = 3;
        ProcessPoolOptions options = new ProcessPoolOptions { Workers = 1 }.WithInitializer((int x) => LifecycleTasks.Store(x + k), 1);

        ArgumentException error = Assert.Throws<ArgumentException>(() => new ProcessPool(options));

        Assert.Contains("'k'", error.Message);
    }

    [Fact]
    public void Initializer_SetAfterWithInitializer_ReplacesIt()
    {
        ProcessPoolOptions options = new ProcessPoolOptions().WithInitializer(LifecycleTasks.LoadTable, "a") with { Initializer = Tasks.Initialize };

        Assert.Null(options.InitializerArgument);
        Assert.NotNull(options.Initializer);
        Assert.Equal("a", new ProcessPoolOptions { Initializer = Tasks.Initialize }.WithInitializer(LifecycleTasks.LoadTable, "a").InitializerArgument);
        Assert.Null(new ProcessPoolOptions { Initializer = Tasks.Initialize }.WithInitializer(LifecycleTasks.LoadTable, "a").Initializer);
    }

    [Fact]
    public async Task WorkerExit_PoolDisposed_RunsOnceInEveryWorker()
    {
        var pool = new ProcessPool(ExitRecording(workers: 3));
        int[] pids;
        try
        {
            await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
            pids = [.. pool.WorkerProcessIds.Order()];
        }
        finally
        {
            await pool.DisposeAsync();
        }

        Assert.Equal(3, pids.Length);
        Assert.Equal(pids, RecordedExits());
    }

    [Fact]
    public async Task WorkerExit_PoolClosed_RunsAfterTheQueuedTasks()
    {
        var pool = new ProcessPool(ExitRecording(workers: 2));
        Task<int[]> map = pool.MapAsync(Tasks.Pid, Enumerable.Range(0, 20), new MapOptions { ChunkSize = 1 });
        await pool.CloseAsync().WaitAsync(Bounds.Unexpected);

        int[] taskPids = await map;
        Assert.Equal(taskPids.Distinct().Order(), RecordedExits().Intersect(taskPids).Order());
        Assert.Equal(RecordedExits().Distinct().Count(), RecordedExits().Length);
    }

    [Fact]
    public async Task WorkerExit_MaxTasksPerWorker_RunsInEveryRecycledWorker()
    {
        ProcessPoolOptions options = ExitRecording(workers: 1) with { MaxTasksPerWorker = 1 };
        var pool = new ProcessPool(options);
        var pids = new List<int>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                pids.Add(await pool.SubmitAsync(Tasks.Pid, i).WaitAsync(Bounds.Unexpected));
            }
            Assert.Equal(3, pids.Distinct().Count());
            // The first two were recycled while the pool runs: their hook ran before they exited. The
            // third is recycled after its one task too, so it may have run its hook by now as well.
            await Wait.UntilAsync(() => pids.Take(2).All(RecordedExits().Contains), "the two recycled workers have run their exit hook");
            Assert.Subset(pids.ToHashSet(), RecordedExits().ToHashSet());
        }
        finally
        {
            await pool.DisposeAsync();
        }

        int[] recorded = RecordedExits();
        Assert.Equal(recorded.Distinct().Count(), recorded.Length);
        Assert.Superset(pids.ToHashSet(), recorded.ToHashSet());
    }

    [Fact]
    public async Task WorkerExit_WorkerMemoryLimit_RunsInTheReplacedWorker()
    {
        ProcessPoolOptions options = ExitRecording(workers: 1) with { WorkerMemoryLimit = 96L << 20 };
        var pool = new ProcessPool(options);
        try
        {
            int grown = (int)await pool.SubmitAsync(Tasks.Allocate, 128).WaitAsync(Bounds.Unexpected);
            await Wait.UntilAsync(() => RecordedExits().Contains(grown), "the worker replaced for its memory has run its exit hook");
            Assert.Equal([grown], RecordedExits());
        }
        finally
        {
            await pool.DisposeAsync();
        }
    }

    [Fact]
    public async Task WorkerExit_WorkerKilledForItsTaskTimeout_DoesNotRunThere()
    {
        ProcessPoolOptions options = ExitRecording(workers: 1) with { TaskTimeout = TimeSpan.FromSeconds(2) };
        var pool = new ProcessPool(options);
        int killed;
        int survivor;
        try
        {
            await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
            killed = pool.WorkerProcessIds.Single();
            await Assert.ThrowsAsync<TimeoutException>(() => pool.SubmitAsync(Tasks.SleepForever, 1).WaitAsync(Bounds.Unexpected));
            survivor = await pool.SubmitAsync(Tasks.Pid, 2).WaitAsync(Bounds.Unexpected);
        }
        finally
        {
            await pool.DisposeAsync();
        }

        Assert.NotEqual(killed, survivor);
        Assert.Equal([survivor], RecordedExits());
    }

    [Fact]
    public async Task WorkerExit_WorkerCrashes_DoesNotRunThere()
    {
        var pool = new ProcessPool(ExitRecording(workers: 1));
        WorkerCrashedException crash;
        int survivor;
        try
        {
            crash = await Assert.ThrowsAsync<WorkerCrashedException>(() => pool.SubmitAsync(Tasks.KillSelfAt, (1, 1)).WaitAsync(Bounds.Unexpected));
            survivor = await pool.SubmitAsync(Tasks.Pid, 2).WaitAsync(Bounds.Unexpected);
        }
        finally
        {
            await pool.DisposeAsync();
        }

        Assert.NotEqual(crash.ProcessId, survivor);
        Assert.Equal([survivor], RecordedExits());
    }

    [Fact]
    public async Task WorkerExit_Throws_IsLoggedAndFailsNothing()
    {
        using var capture = new LogCapture();
        using ILoggerFactory factory = capture.CreateFactory();
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, WorkerExit = LifecycleTasks.ThrowOnExit, LoggerFactory = factory });
        int pid;
        try
        {
            pid = await pool.SubmitAsync(Tasks.Pid, 1).WaitAsync(Bounds.Unexpected);
        }
        finally
        {
            await pool.DisposeAsync().AsTask().WaitAsync(Bounds.Unexpected);
        }

        LogEntry failed = await capture.WaitForAsync(e => e.EventId.Id == ProcessPoolLogEvents.WorkerExitFailed, "the hook's exception is logged");
        Assert.Equal(LogLevel.Warning, failed.Level);
        Assert.Equal(pid, failed["ProcessId"]);
        Assert.Equal("System.InvalidOperationException", failed["ExceptionType"]);
        Assert.Contains("flush failed", failed.Message);
        Assert.Contains(nameof(LifecycleTasks.ThrowOnExit), (string)failed["WorkerExit"]!);
        LogEntry exited = await capture.WaitForAsync(e => e.EventId.Id == ProcessPoolLogEvents.WorkerExited && Equals(e["ProcessId"], pid), "the worker is logged as exited");
        Assert.Equal(0, exited["ExitCode"]);
        Assert.Empty(capture.WithEvent(ProcessPoolLogEvents.WorkerCrashed));
    }

    [Fact]
    public async Task WorkerExit_DoesNotReturn_WorkerExitsAfterTheShutdownTimeoutAndItIsLogged()
    {
        using var capture = new LogCapture();
        using ILoggerFactory factory = capture.CreateFactory();
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, WorkerExit = LifecycleTasks.HangOnExit, ShutdownTimeout = TimeSpan.FromSeconds(1), LoggerFactory = factory });
        int pid;
        try
        {
            await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
            pid = pool.WorkerProcessIds.Single();
        }
        finally
        {
            await pool.DisposeAsync().AsTask().WaitAsync(Bounds.Unexpected);
        }

        LogEntry failed = await capture.WaitForAsync(e => e.EventId.Id == ProcessPoolLogEvents.WorkerExitFailed, "the hook's time-out is logged");
        Assert.Equal("System.TimeoutException", failed["ExceptionType"]);
        Assert.Contains("ShutdownTimeout", failed.Message);
        LogEntry exited = await capture.WaitForAsync(e => e.EventId.Id == ProcessPoolLogEvents.WorkerExited && Equals(e["ProcessId"], pid), "the worker is logged as exited");
        Assert.Equal(0, exited["ExitCode"]);
        Assert.False(Wait.ProcessExists(pid));
    }

    [Fact]
    public void WorkerExit_CapturingLambda_IsRefusedWhenThePoolIsCreated()
    {
        string path = ExitFile;

        ArgumentException error = Assert.Throws<ArgumentException>(() => new ProcessPool(new ProcessPoolOptions { Workers = 1, WorkerExit = () => File.AppendAllText(path, "x") }));

        Assert.Contains("'path'", error.Message);
        Assert.Equal(nameof(ProcessPoolOptions.WorkerExit), error.ParamName);
    }
}

/// <summary>Initializers, exit hooks and tasks that read what the initializer loaded; static, as workers need.</summary>
internal static class LifecycleTasks
{
    public const string ExitFileVariable = "MP_TEST_EXIT_FILE";

    private static string? s_table;
    private static int s_weightSum = -1;
    private static string? s_settings;

    public static void LoadTable(string path) => s_table = File.ReadAllText(path);

    public static string ReadTable(int _) => s_table ?? "not loaded";

    public static (int, string) PidAndTable(int _) => (Environment.ProcessId, s_table ?? "not loaded");

    public static void LoadWeights(SharedArray<int> weights)
    {
        int sum = 0;
        foreach (int w in weights.AsSpan())
        {
            sum += w;
        }
        s_weightSum = sum;
    }

    public static int WeightSum(int _) => s_weightSum;

    public static async Task LoadSettingsAsync(Point p)
    {
        await Task.Yield();
        s_settings = $"{p.X},{p.Y}";
    }

    public static string ReadSettings(int _) => s_settings ?? "not loaded";

    public static void TakeExploding(BadInputTests.Exploding _)
    {
    }

    public static void Store(int x) => s_weightSum = x;

    public static void RecordExit() =>
        File.AppendAllText($"{Environment.GetEnvironmentVariable(ExitFileVariable)}.{Environment.ProcessId}", Environment.ProcessId + "\n");

    public static void ThrowOnExit() => throw new InvalidOperationException("flush failed: the disk is full");

    public static void HangOnExit() => Thread.Sleep(Timeout.Infinite);
}
