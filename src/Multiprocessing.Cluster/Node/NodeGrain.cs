using Orleans.Concurrency;

namespace Multiprocessing.Cluster.Node;

/// <summary>The node's grain: calls interleave (it only hands chunks to the local pool), so many chunks are in flight at once.</summary>
[NodePlacement, Reentrant]
internal sealed class NodeGrain(LocalNode node) : Grain, INodeGrain
{
    public Task<ChunkOutcome> RunAsync(ChunkRequest request, CancellationToken cancellationToken) => node.RunAsync(request, cancellationToken);

    public Task<NodeStatus> GetStatusAsync(Guid client, bool includeMemory) => Task.FromResult(node.Status(client, includeMemory));

    public Task ReleaseClientAsync(Guid client)
    {
        node.Release(client);
        return Task.CompletedTask;
    }

    public Task<bool> BeginSharedDataAsync(Guid client, Guid id, long length) => Task.FromResult(node.SharedData.Begin(client, id, length));

    public Task<bool> WriteSharedDataAsync(Guid client, Guid id, long offset, SharedPiece data, ulong checksum) =>
        Task.FromResult(node.SharedData.Write(client, id, offset, data, checksum));

    public Task<bool> CommitSharedDataAsync(Guid client, Guid id) => Task.FromResult(node.SharedData.Commit(client, id));

    public Task ReleaseSharedDataAsync(Guid client, Guid id)
    {
        node.SharedData.Release(client, id);
        return Task.CompletedTask;
    }
}
