namespace Multiprocessing.Tests.Sharing;

public sealed class DisposedTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mp-disposed-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task PublicMembers_AfterDispose_ThrowObjectDisposedOrAreDocumentedSafe()
    {
        // In a worker: a member that touched unmapped memory would kill the process, not fail an assertion.
        using var child = WorkerProcess.Start(DisposedSharingTasks.ProbeAfterDispose, _directory);
        string problems = await child.Result.WaitAsync(Bounds.Unexpected);
        Assert.True(problems.Length == 0, problems);
    }

    [Fact]
    public async Task Indexer_DisposeRacingReaders_ReadersSeeTheValueOrObjectDisposed()
    {
        using var child = WorkerProcess.Start(DisposedSharingTasks.DisposeRacingReaders, 300);
        string outcome = await child.Result.WaitAsync(Bounds.Unexpected);
        Assert.StartsWith("ok:", outcome);
    }
}
