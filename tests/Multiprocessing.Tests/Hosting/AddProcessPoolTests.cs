using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Multiprocessing.Hosting;
using Multiprocessing.Tests.Observability;

namespace Multiprocessing.Tests.Hosting;

/// <summary><c>services.AddProcessPool</c> in a real generic host: registration, configuration, start and graceful stop.</summary>
public sealed class AddProcessPoolTests
{
    private static HostApplicationBuilder NewBuilder(LogCapture? capture = null)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        if (capture is not null)
        {
            builder.Logging.AddProvider(capture);
        }
        return builder;
    }

    [Fact]
    public async Task AddProcessPool_HostStartsAndStops_WorkersRunThenTheirProcessesAreGone()
    {
        var capture = new LogCapture();
        HostApplicationBuilder builder = NewBuilder(capture);
        builder.Services.AddProcessPool(settings => settings.Workers = 2);
        using IHost host = builder.Build();

        await host.StartAsync().WaitAsync(Bounds.Unexpected);
        var pool = host.Services.GetRequiredService<ProcessPool>();
        Assert.Same(pool, host.Services.GetRequiredService<ProcessPool>());
        IReadOnlyList<int> pids = pool.WorkerProcessIds;
        Assert.Equal(2, pids.Count);
        Assert.All(pids, pid => Assert.True(Wait.ProcessExists(pid), $"worker {pid} runs once the host has started"));
        Assert.Equal(49, await pool.SubmitAsync(Tasks.Square, 7).WaitAsync(Bounds.Unexpected));
        // Created with the host's logger factory: its events reach the host's providers.
        await capture.WaitForAsync(e => e.EventId.Id == ProcessPoolLogEvents.WorkerStarted, "the pool logs through the host's logger factory");

        await host.StopAsync().WaitAsync(Bounds.Unexpected);
        foreach (int pid in pids)
        {
            await Wait.UntilAsync(() => !Wait.ProcessExists(pid), $"worker {pid} has exited after the host stopped");
        }
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pool.SubmitAsync(Tasks.Square, 1));
    }

    [Fact]
    public async Task AddProcessPool_ServesThePoolAsIProcessPoolToo()
    {
        HostApplicationBuilder builder = NewBuilder(new LogCapture());
        builder.Services.AddProcessPool(settings => settings.Workers = 1);
        using IHost host = builder.Build();

        await host.StartAsync().WaitAsync(Bounds.Unexpected);
        IProcessPool pool = host.Services.GetRequiredService<IProcessPool>();
        Assert.Same(host.Services.GetRequiredService<ProcessPool>(), pool);
        Assert.Equal(new[] { 1, 4, 9 }, await pool.MapAsync(Tasks.Square, new[] { 1, 2, 3 }).WaitAsync(Bounds.Unexpected));
        await host.StopAsync().WaitAsync(Bounds.Unexpected);
    }

    [Fact]
    public async Task AddProcessPool_ConfigurationSection_BindsEverySettingAndCodeAppliesAfter()
    {
        HostApplicationBuilder builder = NewBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ProcessPool:Name"] = "bound-pool",
            ["ProcessPool:Workers"] = "2",
            ["ProcessPool:MaxTasksPerWorker"] = "7",
            ["ProcessPool:TaskTimeout"] = "00:00:09",
            ["ProcessPool:WorkerMemoryLimit"] = "1073741824",
            ["ProcessPool:CancellationGracePeriod"] = "00:00:02",
            ["ProcessPool:ShutdownTimeout"] = "00:00:03",
            ["ProcessPool:WorkerEnvironment:MP_HOSTING_TEST"] = "from-configuration",
        });
        builder.Services.AddProcessPool(builder.Configuration.GetSection(ProcessPoolSettings.SectionName), settings => settings.Workers = 1);
        using IHost host = builder.Build();
        await host.StartAsync().WaitAsync(Bounds.Unexpected);
        try
        {
            ProcessPoolOptions options = host.Services.GetRequiredService<ProcessPool>().Options;
            Assert.Equal("bound-pool", options.Name);
            Assert.Equal(1, options.Workers);
            Assert.Equal(7, options.MaxTasksPerWorker);
            Assert.Equal(TimeSpan.FromSeconds(9), options.TaskTimeout);
            Assert.Equal(1L << 30, options.WorkerMemoryLimit);
            Assert.Equal(TimeSpan.FromSeconds(2), options.CancellationGracePeriod);
            Assert.Equal(TimeSpan.FromSeconds(3), options.ShutdownTimeout);
            Assert.Same(host.Services.GetRequiredService<ILoggerFactory>(), options.LoggerFactory);
            string seen = await host.Services.GetRequiredService<ProcessPool>().SubmitAsync(HostingTasks.ReadEnvironment, "MP_HOSTING_TEST").WaitAsync(Bounds.Unexpected);
            Assert.Equal("from-configuration", seen);
        }
        finally
        {
            await host.StopAsync().WaitAsync(Bounds.Unexpected);
        }
    }

    [Fact]
    public void ProcessPoolSettings_SetInitializerAndWorkerExit_CarryIntoTheOptions()
    {
        var settings = new ProcessPoolSettings { Workers = 2, WorkerExit = Tasks.Initialize };
        settings.SetInitializer(Pool.LifecycleTasks.LoadTable, "/data/table.txt");

        ProcessPoolOptions options = settings.ToOptions();

        Assert.Equal(2, options.Workers);
        Assert.Equal("/data/table.txt", options.InitializerArgument);
        Assert.Null(options.Initializer);
        Assert.NotNull(options.WorkerExit);
        settings.Initializer = Tasks.Initialize;
        Assert.Null(settings.ToOptions().InitializerArgument);
    }

    [Fact]
    public void ProcessPoolSettings_Unset_KeepsTheOptionsDefaults()
    {
        ProcessPoolOptions options = new ProcessPoolSettings().ToOptions();
        var defaults = new ProcessPoolOptions();
        Assert.Equal(defaults.Workers, options.Workers);
        Assert.Equal(defaults.ShutdownTimeout, options.ShutdownTimeout);
        Assert.Equal(defaults.CancellationGracePeriod, options.CancellationGracePeriod);
        Assert.Equal(defaults.MaxMessageSize, options.MaxMessageSize);
        Assert.Null(options.TaskTimeout);
        Assert.Null(options.LoggerFactory);
    }

    [Fact]
    public async Task AddProcessPool_SettingOutOfRange_HostStartFailsNamingIt()
    {
        HostApplicationBuilder builder = NewBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ProcessPool:Workers"] = "0" });
        builder.Services.AddProcessPool(builder.Configuration.GetSection("ProcessPool"));
        using IHost host = builder.Build();

        OptionsValidationException error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(Bounds.Unexpected));
        Assert.Contains("Workers", error.Message);
    }

    [Fact]
    public async Task StopAsync_TaskRunning_FinishesBeforeWorkersStop()
    {
        HostApplicationBuilder builder = NewBuilder();
        builder.Services.AddProcessPool(settings =>
        {
            settings.Workers = 1;
            settings.ShutdownTimeout = Bounds.Unexpected;
        });
        using IHost host = builder.Build();
        await host.StartAsync().WaitAsync(Bounds.Unexpected);
        var pool = host.Services.GetRequiredService<ProcessPool>();
        int pid = pool.WorkerProcessIds.Single();
        string marker = Path.Combine(Path.GetTempPath(), "mp-hosting-" + Guid.NewGuid().ToString("N"));
        try
        {
            Task<int> running = pool.SubmitAsync(HostingTasks.SquareAfterMarker, (marker, 9));
            await Wait.UntilAsync(() => File.Exists(marker), "the task starts");

            await host.StopAsync().WaitAsync(Bounds.Unexpected);

            Assert.True(running.IsCompletedSuccessfully, "the running task finished before the host's stop completed");
            Assert.Equal(81, await running);
            await Wait.UntilAsync(() => !Wait.ProcessExists(pid), $"worker {pid} has exited");
        }
        finally
        {
            File.Delete(marker);
        }
    }

    [Fact]
    public async Task StopAsync_TaskOutlivesShutdownTimeout_FailsItAndEndsItsWorker()
    {
        HostApplicationBuilder builder = NewBuilder();
        builder.Services.AddProcessPool(settings =>
        {
            settings.Workers = 1;
            settings.ShutdownTimeout = TimeSpan.FromMilliseconds(200);
        });
        using IHost host = builder.Build();
        await host.StartAsync().WaitAsync(Bounds.Unexpected);
        var pool = host.Services.GetRequiredService<ProcessPool>();
        int pid = pool.WorkerProcessIds.Single();
        string marker = Path.Combine(Path.GetTempPath(), "mp-hosting-" + Guid.NewGuid().ToString("N"));
        try
        {
            Task<int> stuck = pool.SubmitAsync(Tasks.SleepForeverAfterMarker, marker);
            await Wait.UntilAsync(() => File.Exists(marker), "the task starts");

            await host.StopAsync().WaitAsync(Bounds.Unexpected);

            await Assert.ThrowsAsync<ObjectDisposedException>(() => stuck.WaitAsync(Bounds.Unexpected));
            await Wait.UntilAsync(() => !Wait.ProcessExists(pid), $"worker {pid} has been stopped");
        }
        finally
        {
            File.Delete(marker);
        }
    }

    [Fact]
    public async Task AddProcessPool_WorkerService_BackgroundServiceRunsAMapOnThePool()
    {
        HostApplicationBuilder builder = NewBuilder();
        builder.Services.AddProcessPool(settings => settings.Workers = 2);
        builder.Services.AddSingleton<SquaringService>();
        builder.Services.AddHostedService(provider => provider.GetRequiredService<SquaringService>());
        using IHost host = builder.Build();
        await host.StartAsync().WaitAsync(Bounds.Unexpected);
        try
        {
            int[] squares = await host.Services.GetRequiredService<SquaringService>().Result.WaitAsync(Bounds.Unexpected);
            Assert.Equal(Enumerable.Range(0, 100).Select(i => i * i), squares);
        }
        finally
        {
            await host.StopAsync().WaitAsync(Bounds.Unexpected);
        }
    }

    /// <summary>A worker service's typical shape: a BackgroundService that gets the pool from DI.</summary>
    private sealed class SquaringService(ProcessPool pool) : BackgroundService
    {
        private readonly TaskCompletionSource<int[]> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<int[]> Result => _result.Task;

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            try
            {
                _result.TrySetResult(await pool.MapAsync(Tasks.Square, Enumerable.Range(0, 100), cancellationToken: stoppingToken));
            }
            catch (Exception e)
            {
                _result.TrySetException(e);
            }
        }
    }
}
