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
}
