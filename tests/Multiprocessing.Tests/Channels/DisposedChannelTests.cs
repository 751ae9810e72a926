namespace Multiprocessing.Tests.Channels;

public sealed class DisposedChannelTests
{
    [Fact]
    public async Task PublicMembers_AfterDispose_ThrowObjectDisposedOrAreDocumentedSafe()
    {
        // In a worker: reading Writer or BrokenMessages of a disposed channel used to touch the
        // unmapped ring and kill the process (exit 134), which no assertion here could catch.
        using var child = WorkerProcess.Start(DisposedChannelTasks.ProbeAfterDispose, $"test-{Guid.NewGuid():N}");
        string problems = await child.Result.WaitAsync(Bounds.Unexpected);
        Assert.True(problems.Length == 0, problems);
    }
}
