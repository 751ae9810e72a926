using System.Threading.Channels;

namespace Multiprocessing.Tests.Channels;

public sealed class SharedChannelTests
{
    [Fact]
    public async Task InOneProcess_BehavesLikeABoundedChannel()
    {
        using var channel = SharedChannel.CreateBounded<Job>(new SharedChannelOptions(4));
        Assert.False(channel.Reader.TryRead(out _));
        Assert.True(channel.Writer.TryWrite(new Job(1, "a")));
        await channel.Writer.WriteAsync(new Job(2, "b"));
        Assert.Equal(2, channel.Reader.Count);
        Assert.Equal(new Job(1, "a"), await channel.Reader.ReadAsync());
        Assert.True(channel.Reader.TryRead(out Job? second));
        Assert.Equal(new Job(2, "b"), second);
    }

    [Fact]
    public async Task Complete_ReadersDrainThenFinish()
    {
        using var channel = SharedChannel.CreateBounded<int>(new SharedChannelOptions(8));
        channel.Writer.TryWrite(1);
        channel.Writer.TryWrite(2);
        channel.Writer.Complete();
        Assert.False(channel.Writer.TryWrite(3));
        await Assert.ThrowsAsync<ChannelClosedException>(() => channel.Writer.WriteAsync(3).AsTask());
        int[] all = await channel.Reader.ReadAllAsync().ToArrayAsync();
        Assert.Equal(new[] { 1, 2 }, all);
        await channel.Reader.Completion.WaitAsync(Bounds.Unexpected);
        await Assert.ThrowsAsync<ChannelClosedException>(() => channel.Reader.ReadAsync().AsTask());
    }

    [Fact]
    public async Task CompleteWithError_ReachesReadersAfterTheLastMessage()
    {
        using var channel = SharedChannel.CreateBounded<int>(new SharedChannelOptions(8));
        channel.Writer.TryWrite(7);
        channel.Writer.Complete(new InvalidOperationException("source broke"));
        Assert.Equal(7, await channel.Reader.ReadAsync());
        ChannelClosedException error = await Assert.ThrowsAsync<ChannelClosedException>(() => channel.Reader.Completion.WaitAsync(Bounds.Unexpected));
        Assert.Contains("source broke", error.Message);
        Assert.Contains("InvalidOperationException", error.Message);
        await Assert.ThrowsAsync<ChannelClosedException>(() => channel.Reader.WaitToReadAsync().AsTask());
    }

    [Fact]
    public async Task ReadAllAsync_WaitsWhenEmpty_EndsWithTheChannelsError()
    {
        using var channel = SharedChannel.CreateBounded<int>(new SharedChannelOptions(8));
        var seen = new List<int>();
        Task reading = Task.Run(async () =>
        {
            await foreach (int value in channel.Reader.ReadAllAsync())
            {
                seen.Add(value);
            }
        });
        channel.Writer.TryWrite(1);
        await channel.Writer.WriteAsync(2);
        channel.Writer.Complete(new InvalidOperationException("source broke"));
        ChannelClosedException error = await Assert.ThrowsAsync<ChannelClosedException>(() => reading.WaitAsync(Bounds.Unexpected));
        Assert.Contains("source broke", error.Message);
        Assert.Equal(new[] { 1, 2 }, seen);
    }

    [Fact]
    public async Task ReadAllAsync_EitherTokenCancelsAWaitingEnumeration()
    {
        using var channel = SharedChannel.CreateBounded<int>(new SharedChannelOptions(8));
        using var callToken = new CancellationTokenSource();
        using var enumeratorToken = new CancellationTokenSource();
        IAsyncEnumerator<int> first = channel.Reader.ReadAllAsync(callToken.Token).GetAsyncEnumerator(enumeratorToken.Token);
        ValueTask<bool> waitingFirst = first.MoveNextAsync();
        Assert.False(waitingFirst.IsCompleted);
        enumeratorToken.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waitingFirst.AsTask().WaitAsync(Bounds.Unexpected));
        await first.DisposeAsync();

        IAsyncEnumerator<int> third = channel.Reader.ReadAllAsync(callToken.Token).GetAsyncEnumerator();
        ValueTask<bool> waitingThird = third.MoveNextAsync();
        callToken.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waitingThird.AsTask().WaitAsync(Bounds.Unexpected));
        await third.DisposeAsync();

        // Nothing was lost to the cancelled waits: a later reader still gets the message.
        channel.Writer.TryWrite(5);
        Assert.Equal(5, await channel.Reader.ReadAsync().AsTask().WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public void OversizeMessage_IsRefusedClearly_AndTheChannelGoesOn()
    {
        using var channel = SharedChannel.CreateBounded<string>(new SharedChannelOptions(4) { MaxMessageSize = 100 });
        ArgumentException error = Assert.Throws<ArgumentException>(() => channel.Writer.TryWrite(new string('x', 200)));
        Assert.Contains("MaxMessageSize", error.Message);
        Assert.True(channel.Writer.TryWrite("small"));
        Assert.True(channel.Reader.TryRead(out string? read));
        Assert.Equal("small", read);
    }

    [Fact]
    public async Task FullModes_WaitDropWriteDropOldest()
    {
        using (var wait = SharedChannel.CreateBounded<int>(new SharedChannelOptions(2)))
        {
            Assert.True(wait.Writer.TryWrite(1));
            Assert.True(wait.Writer.TryWrite(2));
            Assert.False(wait.Writer.TryWrite(3));
            ValueTask pending = wait.Writer.WriteAsync(3);
            Assert.False(pending.IsCompleted);
            Assert.Equal(1, await wait.Reader.ReadAsync());
            await pending.AsTask().WaitAsync(Bounds.Unexpected);
            int[] rest = [await wait.Reader.ReadAsync(), await wait.Reader.ReadAsync()];
            Assert.Equal(new[] { 2, 3 }, rest);
        }
        using (var dropWrite = SharedChannel.CreateBounded<int>(new SharedChannelOptions(2) { FullMode = BoundedChannelFullMode.DropWrite }))
        {
            Assert.True(dropWrite.Writer.TryWrite(1) && dropWrite.Writer.TryWrite(2) && dropWrite.Writer.TryWrite(3));
            int[] kept = [await dropWrite.Reader.ReadAsync(), await dropWrite.Reader.ReadAsync()];
            Assert.Equal(new[] { 1, 2 }, kept);
        }
        using (var dropOldest = SharedChannel.CreateBounded<int>(new SharedChannelOptions(2) { FullMode = BoundedChannelFullMode.DropOldest }))
        {
            Assert.True(dropOldest.Writer.TryWrite(1) && dropOldest.Writer.TryWrite(2) && dropOldest.Writer.TryWrite(3));
            int[] newest = [await dropOldest.Reader.ReadAsync(), await dropOldest.Reader.ReadAsync()];
            Assert.Equal(new[] { 2, 3 }, newest);
        }
        Assert.Throws<NotSupportedException>(() => SharedChannel.CreateBounded<int>(new SharedChannelOptions(2) { FullMode = BoundedChannelFullMode.DropNewest }));
    }

    [Fact]
    public async Task Channel_CrossesIntoAPoolTask()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        using var jobs = SharedChannel.CreateBounded<Job>(new SharedChannelOptions(16));
        Task<string> consumer = pool.SubmitAsync(ChannelTasks.JoinNames, jobs);
        for (int i = 0; i < 100; i++)
        {
            await jobs.Writer.WriteAsync(new Job(i, "n" + i));
        }
        jobs.Writer.Complete();
        string joined = await consumer.WaitAsync(Bounds.Unexpected);
        Assert.Equal(string.Join(",", Enumerable.Range(0, 100).Select(i => $"{i}:n{i}")), joined);
    }

    [Fact]
    public async Task FourProducersFourConsumers_EveryMessageOnceAndInEachProducersOrder()
    {
        const int producers = 4, consumers = 4, perProducer = 250_000;
        using var channel = SharedChannel.CreateBounded<(int, int)>(new SharedChannelOptions(1024));
        var writers = Enumerable.Range(0, producers).Select(p => WorkerProcess.Start(ChannelTasks.Produce, (channel, p, perProducer))).ToList();
        var readers = Enumerable.Range(0, consumers).Select(_ => WorkerProcess.Start(ChannelTasks.Consume, (channel, producers))).ToList();
        try
        {
            await Task.WhenAll(writers.Select(w => w.Completion)).WaitAsync(Bounds.Unexpected);
            channel.Writer.Complete();
            (long Count, long Sum, bool InOrder)[] results = await Task.WhenAll(readers.Select(r => r.Result)).WaitAsync(Bounds.Unexpected);
            Assert.Equal((long)producers * perProducer, results.Sum(r => r.Count));
            Assert.Equal((long)producers * perProducer * (perProducer - 1) / 2, results.Sum(r => r.Sum));
            Assert.All(results, r => Assert.True(r.InOrder));
            Assert.Equal(0, channel.BrokenMessages);
        }
        finally
        {
            foreach (WorkerProcess worker in writers.Concat<WorkerProcess>(readers))
            {
                worker.Kill();
                worker.Dispose();
            }
        }
    }

    [Fact]
    public async Task ReaderOfAnEmptyChannel_WhoseWriterDies_GetsCompletionWithAnError()
    {
        using var channel = SharedChannel.CreateBounded<int>(new SharedChannelOptions(64));
        using var writer = WorkerProcess.Start(ChannelTasks.WriteThenSleep, (channel, 10));
        try
        {
            for (int i = 0; i < 10; i++)
            {
                Assert.Equal(i, await channel.Reader.ReadAsync().AsTask().WaitAsync(Bounds.Unexpected));
            }
            writer.Kill();
            ChannelClosedException error = await Assert.ThrowsAsync<ChannelClosedException>(() => channel.Reader.ReadAsync().AsTask().WaitAsync(Bounds.Unexpected));
            Assert.Contains($"process {writer.Id}", error.Message);
        }
        finally
        {
            writer.Kill();
        }
    }

    [Fact]
    public async Task WriterThatExitsNormally_IsNotTakenForADeadOne_AnotherProcessCompletesLater()
    {
        using var channel = SharedChannel.CreateBounded<int>(new SharedChannelOptions(64));
        using (var writer = WorkerProcess.Start(ChannelTasks.WriteCount, (channel, 3)))
        {
            await writer.Completion.WaitAsync(Bounds.Unexpected);
            await writer.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
            Assert.Equal(0, writer.ExitCode);
        }
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(i, await channel.Reader.ReadAsync().AsTask().WaitAsync(Bounds.Unexpected));
        }
        // Readers look for dead writers after 0.2 s without progress; give them several times that.
        ValueTask<bool> waiting = channel.Reader.WaitToReadAsync();
        await Assert.ThrowsAsync<TimeoutException>(() => waiting.AsTask().WaitAsync(Bounds.NotHappening));
        channel.Writer.TryWrite(3);
        channel.Writer.Complete();
        Assert.True(await waiting.AsTask().WaitAsync(Bounds.Unexpected));
        Assert.Equal(new[] { 3 }, await channel.Reader.ReadAllAsync().ToArrayAsync());
        await channel.Reader.Completion.WaitAsync(Bounds.Unexpected);
    }

    [Fact]
    public async Task ProducerKilledWhileWriting_ChannelStaysUsable_AndEveryMessageReadIsWhole()
    {
        using var channel = SharedChannel.CreateBounded<long>(new SharedChannelOptions(256));
        using var producer = WorkerProcess.Start(ChannelTasks.ProduceForever, channel);
        try
        {
            long read = 0;
            while (read < 20_000)
            {
                long value = await channel.Reader.ReadAsync().AsTask().WaitAsync(Bounds.Unexpected);
                Assert.Equal(0, value % 3);
                read++;
            }
            producer.Kill(); // most likely in the middle of a write: it writes in a tight loop
            await producer.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
            // Whatever it left, readers drain the whole messages, skip a broken one, and then see the end.
            await foreach (long value in channel.Reader.ReadAllAsync().WithCancellation(new CancellationTokenSource(Bounds.Unexpected).Token))
            {
                Assert.Equal(0, value % 3);
            }
        }
        catch (ChannelClosedException e)
        {
            Assert.Contains("exited without completing", e.Message);
        }
        finally
        {
            producer.Kill();
        }
        Assert.InRange(channel.BrokenMessages, 0, 1);
        // And a new writer can still use it.
        Assert.False(channel.Writer.TryWrite(1)); // completed by the readers when the writer died
    }

    [Fact]
    public async Task TwoHundredAsyncReaders_DoNotHoldAThreadEach()
    {
        using var channel = SharedChannel.CreateBounded<int>(new SharedChannelOptions(8));
        int threadsBefore = ThreadPool.ThreadCount;
        Task<int>[] readers = [.. Enumerable.Range(0, 200).Select(_ => channel.Reader.ReadAsync().AsTask())];
        Assert.True(await Task.Run(() => true).WaitAsync(Bounds.Unexpected)); // the pool still runs work
        Assert.All(readers, r => Assert.False(r.IsCompleted));
        Assert.True(ThreadPool.ThreadCount < threadsBefore + 50, $"{ThreadPool.ThreadCount} pool threads (was {threadsBefore})");
        for (int i = 0; i < 200; i++)
        {
            await channel.Writer.WriteAsync(i);
        }
        int[] values = await Task.WhenAll(readers).WaitAsync(Bounds.Unexpected);
        Assert.Equal(Enumerable.Range(0, 200), values.Order());
    }

    [Fact]
    public async Task DisposedWhileReadersWait_TheyGetObjectDisposed()
    {
        var channel = SharedChannel.CreateBounded<int>(new SharedChannelOptions(8));
        Task<int> waiting = channel.Reader.ReadAsync().AsTask();
        channel.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting.WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task Named_AnotherProcessOpensIt()
    {
        string name = $"test-{Guid.NewGuid():N}";
        using var channel = SharedChannel.CreateBounded<int>(new SharedChannelOptions(8), name);
        using var opened = SharedChannel.Open<int>(name);
        await opened.Writer.WriteAsync(5);
        Assert.Equal(5, await channel.Reader.ReadAsync());
        Assert.Throws<SharedMemoryException>(() => SharedChannel.Open<string>(name));
    }
}
