
namespace Multiprocessing.Cluster.Node;

/// <summary>
/// One per node, keyed by its silo's address (<see cref="NodePlacement"/> activates it on exactly
/// that silo, never elsewhere): the client's handle on one machine's pool.
/// </summary>
[Alias("mp.INodeGrain")]
internal interface INodeGrain : IGrainWithStringKey
{
    /// <summary>Runs one encoded chunk on the node's local pool.</summary>
    /// <remarks>
    /// A chunk may run for minutes, so the call does not end at Orleans' response timeout (30 s by
    /// default, which counts from the send and is not extended by the node's status updates). A call
    /// that cannot come back is ended otherwise: by the node's loss (polls, membership), or, for a call
    /// lost on the way (through a gateway that died), by the node's list of the calls it is running
    /// (<see cref="NodeStatus.RunningCalls"/>), checked after a gateway connection closes and for any
    /// call older than the response timeout.
    /// </remarks>
    [Alias("Run"), ResponseTimeout("365.00:00:00")]
    Task<ChunkOutcome> RunAsync(ChunkRequest request, CancellationToken cancellationToken);

    /// <summary>The node's pool as it is now; <paramref name="client"/> (if not empty) says that client is alive.</summary>
    [Alias("Status")]
    Task<NodeStatus> GetStatusAsync(Guid client, bool includeMemory);

    /// <summary>The client is leaving: cancel what it still has running here.</summary>
    [Alias("Release")]
    Task ReleaseClientAsync(Guid client);

    /// <summary>Starts (or finds) this node's copy of a client's read-only shared array; true if a complete copy is already here.</summary>
    [Alias("BeginShared")]
    Task<bool> BeginSharedDataAsync(Guid client, Guid id, long length);

    /// <summary>
    /// Writes one piece of the array's bytes at <paramref name="offset"/> and checks it against the
    /// client's XxHash3 of the piece; false if it did not match. <paramref name="data"/> is held in
    /// Orleans' pooled blocks (<see cref="SharedPiece"/>): read off the connection into them, where a
    /// byte[] would be a new 4 MiB array (fresh pages to fault in) per piece.
    /// </summary>
    [Alias("WriteSharedPiece")]
    Task<bool> WriteSharedDataAsync(Guid client, Guid id, long offset, SharedPiece data, ulong checksum);

    /// <summary>True if every piece arrived and matched, and the copy is now usable.</summary>
    [Alias("CommitSharedPieces")]
    Task<bool> CommitSharedDataAsync(Guid client, Guid id);

    /// <summary>The client disposed the array: drop this node's copy.</summary>
    [Alias("ReleaseShared")]
    Task ReleaseSharedDataAsync(Guid client, Guid id);
}
