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
    public void Start_CapturingLambda_Throws()
    {
        int k = 2;
        ArgumentException error = Assert.Throws<ArgumentException>(() => WorkerProcess.Start((int x) => x * k, 1));
        Assert.Contains("'k'", error.Message);
    }
}
