using Multiprocessing.Synchronization;

namespace Multiprocessing.Tests.Pool;

/// <summary>CloseAsync: no new work, everything already submitted finishes, then the workers stop normally.</summary>
public sealed class CloseTests
{
    /// <summary>Marks that it started (a file), waits for <paramref name="a"/>.Release, returns its value squared.</summary>
    public static int SquareWhenReleased((SharedEvent Release, string Marker, int Value) a)
    {
        File.WriteAllText(a.Marker, "started");
        a.Release.Wait(Bounds.Unexpected);
        return a.Value * a.Value;
    }

    [Fact]
    public async Task CloseAsync_QueuedAndRunningTasksFinish_NewWorkIsRefused_WorkersStop()
    {
        string marker = Path.Combine(Path.GetTempPath(), $"mp-close-{Guid.NewGuid():N}");
        using var release = SharedEvent.Create(manualReset: true);
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        try
        {
            await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
            IReadOnlyList<int> workers = pool.WorkerProcessIds;
            Task<int> running = pool.SubmitAsync(SquareWhenReleased, (release, marker, 3));
            await Wait.UntilAsync(() => File.Exists(marker), "the first task started");
            Task<int>[] queued = [.. Enumerable.Range(0, 5).Select(i => pool.SubmitAsync(Tasks.Square, i))];
            Task<int[]> map = pool.MapAsync(Tasks.Square, Enumerable.Range(0, 50), new MapOptions { ChunkSize = 5 });

            Task closed = pool.CloseAsync();
            InvalidOperationException refused = Assert.Throws<InvalidOperationException>(() => { _ = pool.SubmitAsync(Tasks.Square, 7); });
            Assert.Contains("closing", refused.Message);
            Assert.Throws<InvalidOperationException>(() => { _ = pool.MapAsync(Tasks.Square, new[] { 1, 2 }); });
            Assert.False(closed.IsCompleted, "CloseAsync completed while a task was still running");

            release.Set();
            await closed.WaitAsync(Bounds.Unexpected);
            Assert.Equal(9, await running.WaitAsync(Bounds.Unexpected));
            for (int i = 0; i < queued.Length; i++)
            {
                Assert.Equal(i * i, await queued[i].WaitAsync(Bounds.Unexpected));
            }
            Assert.Equal(Enumerable.Range(0, 50).Select(i => i * i), await map.WaitAsync(Bounds.Unexpected));
            Assert.All(workers, pid => Assert.False(Wait.ProcessExists(pid), $"worker {pid} still runs after CloseAsync"));
            Assert.True(pool.DisposeAsync().IsCompleted, "DisposeAsync after CloseAsync had work left to do");
            Assert.Throws<ObjectDisposedException>(() => { _ = pool.SubmitAsync(Tasks.Square, 1); });
            await Assert.ThrowsAsync<ObjectDisposedException>(() => pool.CloseAsync());
        }
        finally
        {
            release.Set();
            await pool.DisposeAsync();
            File.Delete(marker);
        }
    }

    [Fact]
    public async Task CloseAsync_Cancelled_FallsBackToDisposeAndThrows()
    {
        string marker = Path.Combine(Path.GetTempPath(), $"mp-close-{Guid.NewGuid():N}");
        using var release = SharedEvent.Create(manualReset: true);
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, ShutdownTimeout = TimeSpan.FromMilliseconds(200) });
        try
        {
            await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
            IReadOnlyList<int> workers = pool.WorkerProcessIds;
            Task<int> running = pool.SubmitAsync(SquareWhenReleased, (release, marker, 3));
            await Wait.UntilAsync(() => File.Exists(marker), "the task started");
            Task<int> queued = pool.SubmitAsync(Tasks.Square, 4);
            using var cancel = new CancellationTokenSource();
            Task closed = pool.CloseAsync(cancel.Token);
            cancel.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => closed.WaitAsync(Bounds.Unexpected));
            // Dispose semantics: the running task outlived the ShutdownTimeout, the queued one never ran.
            await Assert.ThrowsAsync<ObjectDisposedException>(() => running.WaitAsync(Bounds.Unexpected));
            await Assert.ThrowsAsync<ObjectDisposedException>(() => queued.WaitAsync(Bounds.Unexpected));
            Assert.All(workers, pid => Assert.False(Wait.ProcessExists(pid), $"worker {pid} still runs after the cancelled close"));
        }
        finally
        {
            release.Set();
            await pool.DisposeAsync();
            File.Delete(marker);
        }
    }

    [Fact]
    public async Task CloseAsync_StreamNobodyReads_DoesNotHoldTheCloseUp()
    {
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        try
        {
            IAsyncEnumerable<int> unread = pool.MapStreamAsync(Tasks.Square, Enumerable.Range(0, 10));
            await pool.CloseAsync().WaitAsync(Bounds.Unexpected);
            await Assert.ThrowsAsync<ObjectDisposedException>(async () =>
            {
                await foreach (int _ in unread)
                {
                }
            });
        }
        finally
        {
            await pool.DisposeAsync();
        }
    }
}
