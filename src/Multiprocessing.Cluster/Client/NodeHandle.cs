using Multiprocessing.Cluster.Node;

namespace Multiprocessing.Cluster.Client;

/// <summary>The client's view of one node: its grain, what it last reported, and whether it is still counted on.</summary>
internal sealed class NodeHandle(string address, string name, INodeGrain grain)
{
    public string Address { get; } = address;

    public string Name { get; set; } = name;

    public INodeGrain Grain { get; } = grain;

    /// <summary>The last status the node sent, or null before its first answer.</summary>
    public NodeStatus? Status;

    /// <summary>Status calls that failed in a row; two make the node lost.</summary>
    public int FailedPolls;

    /// <summary>Chunks the client has sent it and not yet seen come back.</summary>
    public int InFlight;

    public bool Lost;

    /// <summary>Cancelled when the node is lost, so calls to it stop waiting.</summary>
    public readonly CancellationTokenSource Gone = new();

    public ClusterNodeInfo ToInfo() =>
        new(Status?.Name ?? Name, Address, Status?.Workers ?? 0, Status?.BusyWorkers ?? 0, Status?.MemoryBytes ?? -1, Status?.ProcessId ?? 0);
}
