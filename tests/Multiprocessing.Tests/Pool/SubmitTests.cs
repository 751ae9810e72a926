namespace Multiprocessing.Tests.Pool;

public sealed class SubmitTests : IAsyncLifetime
{
    private ProcessPool _pool = null!;

    public Task InitializeAsync()
    {
        _pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, Initializer = Tasks.Initialize });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _pool.DisposeAsync();

    [Fact]
    public async Task SubmitAsync_OneTask_ReturnsItsResult()
    {
        Assert.Equal(49, await _pool.SubmitAsync(Tasks.Square, 7).WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task SubmitAsync_ManyConcurrent_AllComplete()
    {
        Task<int>[] tasks = Enumerable.Range(0, 500).Select(i => _pool.SubmitAsync(Tasks.Square, i)).ToArray();
        int[] results = await Task.WhenAll(tasks).WaitAsync(Bounds.Unexpected);
        Assert.Equal(Enumerable.Range(0, 500).Select(x => x * x), results);
    }

    [Fact]
    public async Task Initializer_RunsInEveryWorkerBeforeItsFirstTask()
    {
        string[] states = await _pool.MapAsync(Tasks.ReadInitialized, Enumerable.Range(0, 20), new MapOptions { ChunkSize = 1 }).WaitAsync(Bounds.Unexpected);
        Assert.All(states, s => Assert.StartsWith("ready in ", s));
    }

    [Fact]
    public async Task SubmitAsync_NoArgument_Works()
    {
        Assert.Equal(42, await _pool.SubmitAsync(() => 42).WaitAsync(Bounds.Unexpected));
    }
}
