namespace Multiprocessing.Tests.Pool;

public sealed class MapTests : IAsyncLifetime
{
    private ProcessPool _pool = null!;

    public Task InitializeAsync()
    {
        _pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _pool.DisposeAsync();

    [Fact]
    public async Task MapAsync_AutomaticChunks_ReturnsEveryResultInOrder()
    {
        int[] squares = await _pool.MapAsync(Tasks.Square, Enumerable.Range(0, 100_000)).WaitAsync(Bounds.Unexpected);
        Assert.Equal(Enumerable.Range(0, 100_000).Select(x => x * x), squares);
    }

    [Fact]
    public async Task MapAsync_LazyInputOfUnknownLength_ReturnsInOrder()
    {
        int[] squares = await _pool.MapAsync(Tasks.Square, Enumerable.Range(0, 5_000).Where(x => x % 2 == 0)).WaitAsync(Bounds.Unexpected);
        Assert.Equal(Enumerable.Range(0, 5_000).Where(x => x % 2 == 0).Select(x => x * x), squares);
    }

    [Fact]
    public void Map_BlockingTwin_ReturnsResults()
    {
        Assert.Equal([1, 4, 9], _pool.Map(Tasks.Square, new[] { 1, 2, 3 }));
    }

    [Fact]
    public async Task MapAsync_ChunkSizeOne_RunsEveryItemAsItsOwnTask()
    {
        int[] squares = await _pool.MapAsync(Tasks.Square, Enumerable.Range(0, 2_000), new MapOptions { ChunkSize = 1 }).WaitAsync(Bounds.Unexpected);
        Assert.Equal(Enumerable.Range(0, 2_000).Select(x => x * x), squares);
    }

    [Fact]
    public async Task MapAsync_Records_TravelThroughJson()
    {
        Point[] points = [new(3, 4), new(6, 8), new(0, 1)];
        double[] norms = await _pool.MapAsync(Tasks.Norm, points).WaitAsync(Bounds.Unexpected);
        Assert.Equal([5.0, 10.0, 1.0], norms);
    }

    [Fact]
    public async Task MapAsync_AsyncMethod_IsAwaitedInTheWorker()
    {
        string[] pages = await _pool.MapAsync(Tasks.EchoAsync, new[] { "a", "b", "c" }).WaitAsync(Bounds.Unexpected);
        Assert.Equal(["A", "B", "C"], pages);
    }

    [Fact]
    public async Task MapAsync_VoidMethod_CompletesAfterEveryItemRan()
    {
        // One file per item: .NET's FileMode.Append seeks rather than using O_APPEND, so two
        // workers appending to one file can overwrite each other and the test would be about that.
        string directory = Directory.CreateTempSubdirectory("mp-test-").FullName;
        try
        {
            await _pool.MapAsync(Tasks.TouchFile, Enumerable.Range(0, 50).Select(i => (directory, i))).WaitAsync(Bounds.Unexpected);
            Assert.Equal(
                Enumerable.Range(0, 50),
                Directory.GetFiles(directory).Select(f => int.Parse(Path.GetFileName(f))).Order());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task MapAsync_LambdaThatCapturesNothing_Works()
    {
        int[] doubled = await _pool.MapAsync(x => x * 2, new[] { 1, 2, 3 }).WaitAsync(Bounds.Unexpected);
        Assert.Equal([2, 4, 6], doubled);
    }

    [Fact]
    public async Task MapAsync_GenericMethod_IsInstantiatedInTheWorker()
    {
        string[] same = await _pool.MapAsync(Tasks.Identity<string>, new[] { "x", "y" }).WaitAsync(Bounds.Unexpected);
        Assert.Equal(["x", "y"], same);
    }

    [Fact]
    public async Task MapAsync_WorkSpreadsOverEveryWorker()
    {
        await _pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
        int[] pids = await _pool.MapAsync(Tasks.Pid, Enumerable.Range(0, 64), new MapOptions { ChunkSize = 1 }).WaitAsync(Bounds.Unexpected);
        Assert.DoesNotContain(Environment.ProcessId, pids);
        Assert.Equal(2, pids.Distinct().Count());
    }

    [Fact]
    public async Task MapStreamAsync_Unordered_YieldsEveryResult()
    {
        var seen = new List<int>();
        await foreach (int s in _pool.MapStreamAsync(Tasks.Square, Enumerable.Range(0, 3_000), new MapOptions { Ordered = false }).WithCancellation(default))
        {
            seen.Add(s);
        }
        Assert.Equal(Enumerable.Range(0, 3_000).Select(x => x * x), seen.Order());
    }

    [Fact]
    public async Task MapStreamAsync_EndlessInput_ReadsOnlyALookAheadAhead()
    {
        long pulled = 0;
        IEnumerable<int> Endless()
        {
            for (int i = 0; ; i++)
            {
                Interlocked.Increment(ref pulled);
                yield return i;
            }
        }

        int taken = 0;
        await foreach (int s in _pool.MapStreamAsync(Tasks.Square, Endless(), new MapOptions { LookAhead = 500, ChunkSize = 50 }))
        {
            Assert.Equal(taken * taken, s);
            if (++taken == 2_000)
            {
                break;
            }
        }
        // The producer may be one chunk into the next wait when the loop ends.
        Assert.InRange(Interlocked.Read(ref pulled), 2_000, 2_000 + 500 + 50);
    }

    [Fact]
    public async Task MapAsync_Progress_ReportsEveryItem()
    {
        long last = 0;
        var progress = new SynchronousProgress(p => Interlocked.Exchange(ref last, Math.Max(Interlocked.Read(ref last), p.Completed)));
        await _pool.MapAsync(Tasks.Square, Enumerable.Range(0, 1_000), new MapOptions { ChunkSize = 10, Progress = progress }).WaitAsync(Bounds.Unexpected);
        Assert.Equal(1_000, Interlocked.Read(ref last));
    }

    [Fact]
    public async Task MapAsync_InputThatEndsWhileResultsArrive_NeverLosesAResult()
    {
        // Regression: a chunk's result raced with the end of the input and could be dropped, leaving
        // a short array and no error. The input pauses before it ends for a time that sweeps across a
        // task's round trip, so in some rounds the result arrives just as the input ends.
        static IEnumerable<int> EndsAfter(int n, TimeSpan pause)
        {
            for (int i = 1; i <= n; i++)
            {
                yield return i;
            }
            long until = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(pause.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
            while (System.Diagnostics.Stopwatch.GetTimestamp() < until)
            {
            }
        }

        await _pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
        for (int round = 0; round < 600; round++)
        {
            TimeSpan pause = TimeSpan.FromMicroseconds(round % 120 * 5);
            int[] results = await _pool.MapAsync(Tasks.Square, EndsAfter(3, pause)).WaitAsync(Bounds.Unexpected);
            Assert.Equal([1, 4, 9], results);
        }
    }

    [Fact]
    public async Task MapAsync_MegabyteArgumentsAndResults_ArriveIntact()
    {
        // Frames far larger than the socket buffers, in both directions at once, with several in
        // flight: partial writes and reads must reassemble every byte.
        byte[][] blocks = Enumerable.Range(0, 96).Select(i => Enumerable.Repeat((byte)i, 1 << 20).ToArray()).ToArray();
        byte[][] echoed = await _pool.MapAsync(Tasks.Reverse, blocks, new MapOptions { ChunkSize = 1 }).WaitAsync(Bounds.Unexpected);
        for (int i = 0; i < blocks.Length; i++)
        {
            Assert.Equal(1 << 20, echoed[i].Length);
            Assert.True(echoed[i].AsSpan().SequenceEqual(blocks[i]), $"block {i} came back different");
        }
    }

    [Fact]
    public async Task MapAsync_EmptyInput_ReturnsEmpty()
    {
        Assert.Empty(await _pool.MapAsync(Tasks.Square, Array.Empty<int>()).WaitAsync(Bounds.Unexpected));
    }

    private sealed class SynchronousProgress(Action<MapProgress> report) : IProgress<MapProgress>
    {
        public void Report(MapProgress value) => report(value);
    }
}
