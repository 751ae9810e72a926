using Multiprocessing;

namespace XunitSample;

/// <summary>Tests that run their code in worker processes.</summary>
public sealed class PoolTests(PoolFixture fixture) : IClassFixture<PoolFixture>
{
    // A bound on every wait, so a broken pool fails the test with a time-out instead of hanging the run.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task MapAsync_StaticMethod_ReturnsEveryResultInInputOrder()
    {
        int[] squares = await fixture.Pool.MapAsync(WorkerTasks.Square, Enumerable.Range(0, 1_000)).WaitAsync(Bound);

        Assert.Equal(Enumerable.Range(0, 1_000).Select(x => x * x), squares);
    }

    [Fact]
    public async Task MapAsync_StaticMethod_RunsInWorkerProcessesNotTheTestHost()
    {
        int[] processIds = await fixture.Pool.MapAsync(WorkerTasks.ProcessIdOf, Enumerable.Range(0, 100)).WaitAsync(Bound);

        Assert.DoesNotContain(Environment.ProcessId, processIds);
        Assert.All(processIds, id => Assert.Contains(id, fixture.Pool.WorkerProcessIds));
    }
}

/// <summary>The code the tests send to workers: static methods in the test assembly itself.</summary>
internal static class WorkerTasks
{
    public static int Square(int x) => x * x;

    public static int ProcessIdOf(int item) => Environment.ProcessId;
}
