using System.Diagnostics;

namespace Multiprocessing.Tests.Pool;

/// <summary>
/// A worker killed from outside is reported with the status it really ended with, every time:
/// the crash report and the process's own exit code are read from one place, once.
/// </summary>
public sealed class ExitStatusTests
{
    // Several threads used to read one Process object's exit state, which it sets in two steps
    // (exited, then the code): a reader in between saw "exited with 0". Only some runs hit it.
    private const int Iterations = 20;

    private const int KilledBySigkill = 128 + 9;

    [Fact]
    public async Task SubmitAsync_WorkerKilledFromOutside_CrashCarriesSigkillEveryTime()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            string marker = Path.Combine(Path.GetTempPath(), $"mp-exit-{Guid.NewGuid():N}");
            try
            {
                Task<int> task = pool.SubmitAsync(Tasks.SleepForeverAfterMarker, marker);
                await Wait.UntilAsync(() => File.Exists(marker), "the task started");
                int pid = pool.WorkerProcessIds.Single();
                using (var worker = Process.GetProcessById(pid))
                {
                    worker.Kill();
                }
                WorkerCrashedException crash = await Assert.ThrowsAsync<WorkerCrashedException>(() => task.WaitAsync(Bounds.Unexpected));
                Assert.True(crash.ExitCode == KilledBySigkill && crash.Signal == 9,
                    $"run {iteration}: the crash of worker {pid} says exit code {crash.ExitCode?.ToString() ?? "null"}, signal {crash.Signal?.ToString() ?? "null"}: {crash.Message}");
                Assert.Contains("signal 9", crash.Message);
            }
            finally
            {
                File.Delete(marker);
            }
        }
    }

    [Fact]
    public async Task WorkerProcess_KilledFromOutsideWhileWatched_CrashAndExitCodeBothSaySigkillEveryTime()
    {
        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            string marker = Path.Combine(Path.GetTempPath(), $"mp-exit-{Guid.NewGuid():N}");
            using WorkerProcess<int> child = WorkerProcess.Start<string, int>(Tasks.SleepForeverAfterMarker, marker);
            using var stop = new CancellationTokenSource();
            // What a caller that polls the process does (ExitCode while it waits): two threads
            // asking at once, as the pool's own reader asks for the crash report.
            var seen = new System.Collections.Concurrent.ConcurrentBag<int>();
            Thread[] watchers = [.. Enumerable.Range(0, 2).Select(_ => new Thread(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    if (child.ExitCode is int code)
                    {
                        seen.Add(code);
                        return;
                    }
                }
            }) { IsBackground = true })];
            try
            {
                await Wait.UntilAsync(() => File.Exists(marker), "the method started");
                foreach (Thread watcher in watchers)
                {
                    watcher.Start();
                }
                using (var process = Process.GetProcessById(child.Id))
                {
                    process.Kill();
                }
                WorkerCrashedException crash = await Assert.ThrowsAsync<WorkerCrashedException>(() => child.Result.WaitAsync(Bounds.Unexpected));
                await child.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
                foreach (Thread watcher in watchers)
                {
                    Assert.True(watcher.Join(Bounds.Unexpected), "a watcher saw the exit code");
                }
                Assert.True(crash.ExitCode == KilledBySigkill && crash.Signal == 9 && child.ExitCode == KilledBySigkill && seen.All(code => code == KilledBySigkill),
                    $"run {iteration}: the crash says exit code {crash.ExitCode?.ToString() ?? "null"}, signal {crash.Signal?.ToString() ?? "null"}; the process says {child.ExitCode?.ToString() ?? "null"}; its watchers saw {string.Join(", ", seen)}");
            }
            finally
            {
                stop.Cancel();
                child.Kill();
                File.Delete(marker);
            }
        }
    }
}
