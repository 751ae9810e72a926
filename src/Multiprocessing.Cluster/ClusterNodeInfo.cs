namespace Multiprocessing.Cluster;

/// <summary>One node of a cluster as the client last saw it.</summary>
/// <param name="Name">The node's name (<see cref="ProcessPoolNodeOptions.Name"/>).</param>
/// <param name="Address">The node's silo address.</param>
/// <param name="Workers">Worker processes of its pool.</param>
/// <param name="BusyWorkers">Workers running a task.</param>
/// <param name="MemoryBytes">Proportional set size of the node process and its workers, or -1 if it could not be read.</param>
/// <param name="ProcessId">The node process's id on its machine.</param>
public sealed record ClusterNodeInfo(string Name, string Address, int Workers, int BusyWorkers, long MemoryBytes, int ProcessId)
{
    /// <summary>Read-only shared arrays copied to the node since it started, from any client (each copy once, when its checksum matched).</summary>
    public long SharedDataTransfers { get; init; }

    /// <summary>Bytes of shared-array copies the node holds for its clients now.</summary>
    public long SharedDataBytes { get; init; }
}
