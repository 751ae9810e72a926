using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Multiprocessing.Tests.Observability;

namespace Multiprocessing.Tests.Pool;

/// <summary>Which worker gets which task, and what happens to tasks given to a worker that cannot run them.</summary>
public sealed class SchedulingTests
{
    [Fact]
    public async Task SubmitAsync_TwoTasksThatWaitForEachOther_GoToTheTwoIdleWorkers()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
        using var barrier = SharedBarrier.Create(participants: 2);
        for (int round = 0; round < 5; round++)
        {
            // Both workers are idle: each task must go to one of them. Sharing a worker, the first
            // would wait at the barrier for the second, queued behind it, until its time-out.
            Task<int> first = pool.SubmitAsync(SchedulingTasks.MeetThenPid, barrier);
            Task<int> second = pool.SubmitAsync(SchedulingTasks.MeetThenPid, barrier);
            int[] pids = await Task.WhenAll(first, second).WaitAsync(Bounds.Unexpected);
            Assert.NotEqual(pids[0], pids[1]);
        }
    }

    [Fact]
    public async Task SubmitAsync_MaxTasksPerWorkerOnStartedWorkers_AllCompleteAndDisposeIsPrompt()
    {
        // Assigning work retires a worker that reached its task count, which starts its replacement
        // while the scheduler is still walking the workers.
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, MaxTasksPerWorker = 2, ShutdownTimeout = TimeSpan.FromMinutes(5) });
        try
        {
            await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
            Task<int>[] tasks = [.. Enumerable.Range(0, 12).Select(i => pool.SubmitAsync(Tasks.Square, i))];
            int[] results = await Task.WhenAll(tasks).WaitAsync(Bounds.Unexpected);
            Assert.Equal(Enumerable.Range(0, 12).Select(i => i * i), results);
        }
        finally
        {
            // Nothing is left in flight, so disposing does not wait for the (long) ShutdownTimeout.
            await pool.DisposeAsync().AsTask().WaitAsync(Bounds.Unexpected);
        }
    }

    [Fact]
    public async Task SubmitAsync_OneWorkerFrozen_ItsTasksMoveToTheOtherAndItIsKilled()
    {
        using var capture = new LogCapture();
        using ILoggerFactory loggerFactory = capture.CreateFactory();
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, TaskTimeout = TimeSpan.FromSeconds(1), LoggerFactory = loggerFactory });
        await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
        int frozen = pool.WorkerProcessIds[0];
        try
        {
            // Stopped while idle, as a debugger or a cgroup freezer would: it begins nothing it is given.
            Signal(frozen, "STOP");
            await Wait.UntilAsync(() => ProcessState(frozen) == 'T', $"worker {frozen} is stopped");
            Task<int>[] tasks = [.. Enumerable.Range(0, 8).Select(i => pool.SubmitAsync(Tasks.Square, i))];
            int[] results = await Task.WhenAll(tasks).WaitAsync(Bounds.Unexpected);
            Assert.Equal(Enumerable.Range(0, 8).Select(i => i * i), results);
            await Wait.UntilAsync(() => !Wait.ProcessExists(frozen), $"the frozen worker {frozen} is killed");
            Assert.DoesNotContain(frozen, pool.WorkerProcessIds);
            LogEntry killed = await capture.WaitForAsync(e => e.EventId.Id == ProcessPoolLogEvents.WorkerCrashed && Equals(e["ProcessId"], frozen), $"the kill of worker {frozen} is logged");
            Assert.Contains("frozen or stopped", killed.Message);
        }
        finally
        {
            if (Wait.ProcessExists(frozen))
            {
                Signal(frozen, "CONT");
            }
        }
    }

    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start("kill", $"-{signal} {pid.ToString(CultureInfo.InvariantCulture)}");
        kill.WaitForExit();
    }

    /// <summary>The state letter of /proc/PID/stat ('T' when stopped), or '?' once it is gone.</summary>
    private static char ProcessState(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0];
        }
        catch (IOException)
        {
            return '?';
        }
    }
}

/// <summary>Tasks for <see cref="SchedulingTests"/>; static, so that they run in workers.</summary>
internal static class SchedulingTasks
{
    /// <summary>Waits at the barrier for the other participant (bounded, so a deadlock fails instead of hanging), then reports its process.</summary>
    public static int MeetThenPid(SharedBarrier barrier)
    {
        // Well within the test's own bound, and far longer than the other worker needs to begin its
        // half on a loaded machine.
        barrier.SignalAndWait(Bounds.Unexpected / 2);
        return Environment.ProcessId;
    }
}
