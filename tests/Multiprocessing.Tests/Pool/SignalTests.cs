using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Multiprocessing.Synchronization;
using Multiprocessing.Tests.Observability;

namespace Multiprocessing.Tests.Pool;

/// <summary>
/// A service stopped the way a service manager or a terminal stops it: SIGTERM (or SIGINT) to the
/// whole process group, the application and its workers at once. The workers leave the decision
/// to the application, which closes its pool: the running task finishes, nothing is reported as a
/// crash, and no worker is left behind.
/// </summary>
public sealed class SignalTests
{
    [DllImport("libc", EntryPoint = "setsid")]
    private static extern int SetSid();

    /// <summary>
    /// Runs in a child process as an application would: its own process group (as a service
    /// manager starts it), a generic host with a pool, one task running. Stops when the host is
    /// told to (SIGTERM), then writes how the task ended and what the pool logged.
    /// </summary>
    public static int HostPoolUntilStopped((string Directory, SharedEvent Release) a)
    {
        if (SetSid() < 0)
        {
            throw new InvalidOperationException("setsid failed: " + Marshal.GetLastPInvokeError());
        }
        using var logs = new LogCapture();
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddProvider(logs);
        builder.Services.AddProcessPool(settings =>
        {
            settings.Workers = 2;
            settings.ShutdownTimeout = Bounds.Unexpected;
        });
        using IHost host = builder.Build();
        host.Start();
        host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() => File.WriteAllText(Path.Combine(a.Directory, "stopping"), ""));
        var pool = host.Services.GetRequiredService<ProcessPool>();
        Task<int> task = pool.SubmitAsync(CloseTests.SquareWhenReleased, (a.Release, Path.Combine(a.Directory, "started"), 7));
        WriteAtomically(Path.Combine(a.Directory, "workers"), string.Join(",", pool.WorkerProcessIds));
        host.WaitForShutdown();
        string outcome = task.IsCompletedSuccessfully ? $"result {task.Result}"
            : task.IsCompleted ? $"failed {task.Exception?.InnerException?.GetType().Name}: {task.Exception?.InnerException?.Message}"
            : "still running";
        File.WriteAllLines(Path.Combine(a.Directory, "log"), logs.Entries.Select(e => $"{e.Level} {e.EventId.Name}: {e.Message}"));
        WriteAtomically(Path.Combine(a.Directory, "outcome"), outcome);
        return 0;
    }

    private static void WriteAtomically(string path, string text)
    {
        File.WriteAllText(path + ".tmp", text);
        File.Move(path + ".tmp", path);
    }

    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    public async Task ProcessGroupSignalled_RunningTaskFinishes_NothingIsReportedAsACrash_NoWorkerLeft(string signal)
    {
        string directory = Directory.CreateTempSubdirectory("mp-signal-").FullName;
        using var release = SharedEvent.Create(manualReset: true);
        using WorkerProcess<int> app = WorkerProcess.Start<(string, SharedEvent), int>(HostPoolUntilStopped, (directory, release));
        int[] workers = [];
        try
        {
            string workersFile = Path.Combine(directory, "workers");
            await Wait.UntilAsync(() => File.Exists(workersFile) && File.Exists(Path.Combine(directory, "started")) || app.HasExited, "the application started its pool and its task");
            Assert.False(app.HasExited, $"the application ended early: {app.Completion.Exception?.InnerException?.Message}");
            workers = [.. File.ReadAllText(workersFile).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];
            Assert.Equal(2, workers.Length);

            // The application (a group leader, after setsid) and its workers, all at once.
            Assert.Equal(0, Kill($"-{app.Id}", signal));
            // The generic host stops on either (its console lifetime handles both).
            await Wait.UntilAsync(() => File.Exists(Path.Combine(directory, "stopping")) || app.HasExited, "the application began to stop");
            release.Set();
            await app.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
            string outcomeFile = Path.Combine(directory, "outcome");
            Assert.True(File.Exists(outcomeFile), $"the application ended without reporting (exit code {app.ExitCode}): {app.Completion.Exception?.InnerException?.Message}");
            string log = File.ReadAllText(Path.Combine(directory, "log"));
            Assert.True(File.ReadAllText(outcomeFile) == "result 49", $"the running task: {File.ReadAllText(outcomeFile)}{Environment.NewLine}The pool logged:{Environment.NewLine}{log}");
            Assert.DoesNotContain("WorkerCrashed", log);
            Assert.DoesNotContain("signal", log);
            Assert.Equal(0, app.ExitCode);
            foreach (int pid in workers)
            {
                await Wait.UntilAsync(() => !Wait.ProcessExists(pid), $"worker {pid} has exited with the application");
            }
        }
        finally
        {
            release.Set();
            app.Kill();
            foreach (int pid in workers.Where(Wait.ProcessExists))
            {
                Kill(pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "KILL");
            }
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task WorkerSentSigtermAlone_FinishesItsTaskThenLeaves_AndIsReplaced()
    {
        string marker = Path.Combine(Path.GetTempPath(), $"mp-sigterm-{Guid.NewGuid():N}");
        using var release = SharedEvent.Create(manualReset: true);
        // No grace: the worker leaves as soon as its task is done (the default waits 10 s for the parent).
        using var logs = new Observability.LogCapture();
        var options = new ProcessPoolOptions
        {
            Workers = 1,
            WorkerEnvironment = new Dictionary<string, string?> { ["MP_WORKER_SIGTERM_GRACE_MS"] = "0" },
            LoggerFactory = logs.CreateFactory(),
        };
        await using var pool = new ProcessPool(options);
        try
        {
            await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
            int worker = pool.WorkerProcessIds.Single();
            Task<int> task = pool.SubmitAsync(CloseTests.SquareWhenReleased, (release, marker, 7));
            await Wait.UntilAsync(() => File.Exists(marker), "the task started");
            Assert.Equal(0, Kill(worker.ToString(System.Globalization.CultureInfo.InvariantCulture), "TERM"));
            // What must not happen: the worker dying of the signal in the middle of its task.
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < Bounds.NotHappening)
            {
                Assert.True(Wait.ProcessExists(worker), $"worker {worker} died of SIGTERM {watch.ElapsedMilliseconds} ms after it, while its task ran");
                await Task.Delay(20);
            }
            release.Set();
            Assert.Equal(49, await task.WaitAsync(Bounds.Unexpected));
            await Wait.UntilAsync(() => !Wait.ProcessExists(worker), $"worker {worker} left after its task");
            await Wait.UntilAsync(() => pool.WorkerProcessIds.Count == 1 && pool.WorkerProcessIds[0] != worker, "the pool replaced the worker");
            Assert.Equal(81, await pool.SubmitAsync(Tasks.Square, 9).WaitAsync(Bounds.Unexpected));
            // A planned end, not a crash: logged as a recycle for the stop signal.
            Observability.LogEntry recycled = await logs.WaitForAsync(
                e => e.EventId.Id == ProcessPoolLogEvents.WorkerRecycled && Equals(e["ProcessId"], worker), $"worker {worker}'s recycle was logged");
            Assert.Equal("StopSignal", recycled["Reason"]?.ToString());
            Assert.DoesNotContain(logs.Entries, e => e.EventId.Id == ProcessPoolLogEvents.WorkerCrashed);
        }
        finally
        {
            release.Set();
            File.Delete(marker);
        }
    }

    /// <summary>Sends a signal with kill(1); a negative target is a process group.</summary>
    private static int Kill(string target, string signal)
    {
        var start = new ProcessStartInfo("kill") { UseShellExecute = false };
        start.ArgumentList.Add($"-{signal}");
        start.ArgumentList.Add("--");
        start.ArgumentList.Add(target);
        using var kill = Process.Start(start)!;
        kill.WaitForExit();
        return kill.ExitCode;
    }
}
