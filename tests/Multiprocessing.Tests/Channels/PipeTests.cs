namespace Multiprocessing.Tests.Channels;

public sealed class PipeTests
{
    [Fact]
    public async Task Pipe_CarriesMessagesBothWays_AndEndsWhenTheOtherEndCompletes()
    {
        var (left, right) = Pipe.Create<int>();
        using (left)
        using (right)
        using (var child = WorkerProcess.Start(ChannelTasks.Echo, right))
        {
            for (int i = 0; i < 100; i++)
            {
                await left.SendAsync(i);
                Assert.Equal(i * 2, await left.ReceiveAsync().AsTask().WaitAsync(Bounds.Unexpected));
            }
            left.Complete();
            Assert.Equal(100, await child.Result.WaitAsync(Bounds.Unexpected));
            await Assert.ThrowsAsync<EndOfStreamException>(() => left.ReceiveAsync().AsTask().WaitAsync(Bounds.Unexpected));
        }
    }

    [Fact]
    public async Task Pipe_OtherEndsProcessDies_ReceiveEndsWithEndOfStream()
    {
        var (left, right) = Pipe.Create<int>();
        using (left)
        using (right)
        using (var child = WorkerProcess.Start(ChannelTasks.HoldPipe, right))
        {
            try
            {
                Assert.Equal(1, await left.ReceiveAsync().AsTask().WaitAsync(Bounds.Unexpected));
                child.Kill();
                EndOfStreamException error = await Assert.ThrowsAsync<EndOfStreamException>(() => left.ReceiveAsync().AsTask().WaitAsync(Bounds.Unexpected));
                Assert.Contains($"process {child.Id}", error.Message);
            }
            finally
            {
                child.Kill();
            }
        }
    }

    [Fact]
    public void Pipe_InOneProcess()
    {
        var (left, right) = Pipe.Create<string>();
        using (left)
        using (right)
        {
            left.Send("hello");
            Assert.Equal("hello", right.Receive());
            right.Send("back");
            Assert.True(left.TryReceive(out string? back));
            Assert.Equal("back", back);
            Assert.False(left.TryReceive(out _));
        }
    }
}
