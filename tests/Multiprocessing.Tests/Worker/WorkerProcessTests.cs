namespace Multiprocessing.Tests.Worker;

public sealed class WorkerProcessTests
{
    [Fact]
    public async Task Start_RunsTheMethodInANewProcessAndExitsWithZero()
    {
        using var child = WorkerProcess.Start(Tasks.Compute, 20);
        Assert.NotEqual(Environment.ProcessId, child.Id);
        await child.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
        Assert.Equal(0, child.ExitCode);
        Assert.Equal(41, await child.Result.WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task Start_MethodThrows_ExitsWithOneAndResultCarriesTheError()
    {
        using var child = WorkerProcess.Start(Tasks.Throw, 13);
        await child.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
        Assert.Equal(1, child.ExitCode);
        WorkerException error = await Assert.ThrowsAsync<WorkerException>(() => child.Result.WaitAsync(Bounds.Unexpected));
        Assert.Equal("System.InvalidOperationException", error.RemoteTypeName);
    }

    [Fact]
    public async Task Kill_EndsTheProcessAndCompletionReportsTheSignal()
    {
        using var child = WorkerProcess.Start(Tasks.SleepForever, 1);
        Assert.Null(child.ExitCode);
        child.Kill();
        await child.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
        WorkerCrashedException crash = await Assert.ThrowsAsync<WorkerCrashedException>(() => child.Completion.WaitAsync(Bounds.Unexpected));
        Assert.Equal(9, crash.Signal);
        Assert.Equal(137, child.ExitCode);
    }

    [Fact]
    public async Task Start_MethodLeavesAForegroundThread_ProcessWaitsForItThenExitsWithZero()
    {
        using var go = SharedEvent.Create(manualReset: true);
        using var written = SharedValue<int>.Create(0);
        using var child = WorkerProcess.Start(ThreadTasks.LeaveForegroundThread, (go, written, false));
        await child.Completion.WaitAsync(Bounds.Unexpected);
        // The method has returned; its thread waits for us: the process must not exit under it.
        Assert.False(child.WaitForExit(Bounds.NotHappening), "the worker exited while a foreground thread it started was still running");
        go.Set();
        await child.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
        Assert.Equal(42, Volatile.Read(ref written.Value));
        Assert.Equal(0, child.ExitCode);
    }

    [Fact]
    public async Task Start_MethodThrowsLeavingAForegroundThread_ExitsWithOneAfterIt()
    {
        using var go = SharedEvent.Create(manualReset: true);
        using var written = SharedValue<int>.Create(0);
        using var child = WorkerProcess.Start(ThreadTasks.LeaveForegroundThread, (go, written, true));
        await Assert.ThrowsAsync<WorkerException>(() => child.Completion.WaitAsync(Bounds.Unexpected));
        Assert.False(child.WaitForExit(Bounds.NotHappening), "the worker exited while a foreground thread it started was still running");
        go.Set();
        await child.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
        Assert.Equal(42, Volatile.Read(ref written.Value));
        Assert.Equal(1, child.ExitCode);
    }

    [Fact]
    public async Task Start_MethodLeavesAnEndlessBackgroundThread_ProcessStillExits()
    {
        using var never = SharedEvent.Create(manualReset: true);
        using var child = WorkerProcess.Start(ThreadTasks.LeaveBackgroundThread, never);
        await child.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
        Assert.Equal(0, child.ExitCode);
    }

    [Fact]
    public async Task Start_MethodRegistersProcessExitHandler_ItRunsBeforeTheProcessExits()
    {
        using var written = SharedValue<int>.Create(0);
        using var child = WorkerProcess.Start(ThreadTasks.OnProcessExit, written);
        await child.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
        Assert.Equal(7, Volatile.Read(ref written.Value));
        Assert.Equal(0, child.ExitCode);
    }

    [Fact]
    public void Start_CapturingLambda_Throws()
    {
        int k = 2;
        ArgumentException error = Assert.Throws<ArgumentException>(() => WorkerProcess.Start((int x) => x * k, 1));
        Assert.Contains("'k'", error.Message);
    }
}

/// <summary>Worker methods that leave threads behind them.</summary>
internal static class ThreadTasks
{
    /// <summary>Starts a foreground thread that writes 42 once <c>Go</c> is set, then returns (or throws).</summary>
    public static void LeaveForegroundThread((SharedEvent Go, SharedValue<int> Written, bool Throw) a)
    {
        new Thread(() =>
        {
            a.Go.Wait(Bounds.Unexpected);
            Volatile.Write(ref a.Written.Value, 42);
        }) { IsBackground = false }.Start();
        if (a.Throw)
        {
            throw new InvalidOperationException("thrown with a foreground thread running");
        }
    }

    /// <summary>Starts a background thread that waits for ever.</summary>
    public static void LeaveBackgroundThread(SharedEvent never) =>
        new Thread(() => never.Wait()) { IsBackground = true }.Start();

    /// <summary>Registers a ProcessExit handler that writes 7.</summary>
    public static void OnProcessExit(SharedValue<int> written) =>
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Volatile.Write(ref written.Value, 7);
}
