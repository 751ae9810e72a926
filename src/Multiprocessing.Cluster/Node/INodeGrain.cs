namespace Multiprocessing.Cluster.Node;

/// <summary>
/// One per node, keyed by its silo's address (<see cref="NodePlacement"/> activates it on exactly
/// that silo, never elsewhere): the client's handle on one machine's pool.
/// </summary>
[Alias("mp.INodeGrain")]
internal interface INodeGrain : IGrainWithStringKey
{
    /// <summary>Runs one encoded chunk on the node's local pool.</summary>
    [Alias("Run")]
    Task<ChunkOutcome> RunAsync(ChunkRequest request, CancellationToken cancellationToken);

    /// <summary>The node's pool as it is now; <paramref name="client"/> (if not empty) says that client is alive.</summary>
    [Alias("Status")]
    Task<NodeStatus> GetStatusAsync(Guid client, bool includeMemory);

    /// <summary>The client is leaving: cancel what it still has running here.</summary>
    [Alias("Release")]
    Task ReleaseClientAsync(Guid client);
}
