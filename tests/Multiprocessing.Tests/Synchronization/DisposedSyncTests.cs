namespace Multiprocessing.Tests.Synchronization;

public sealed class DisposedSyncTests
{
    [Fact]
    public async Task PublicMembers_AfterDispose_ThrowObjectDisposedOrAreDocumentedSafe()
    {
        using var child = WorkerProcess.Start(DisposedSyncTasks.ProbeAfterDispose, $"test-{Guid.NewGuid():N}");
        string problems = await child.Result.WaitAsync(Bounds.Unexpected);
        Assert.True(problems.Length == 0, problems);
    }
}
