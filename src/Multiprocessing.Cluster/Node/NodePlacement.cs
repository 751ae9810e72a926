using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace Multiprocessing.Cluster.Node;

/// <summary>
/// Places a grain on the silo its key names (<see cref="SiloAddress.ToParsableString"/>). A node's
/// grain must run where that node's workers are; if the silo has left, placement fails rather
/// than starting the grain on another machine, so a call to a lost node fails instead of running
/// its work somewhere the client did not choose.
/// </summary>
[GenerateSerializer, Immutable, Alias("mp.NodePlacement")]
internal sealed class NodePlacement : PlacementStrategy
{
    public static NodePlacement Instance { get; } = new();
}

/// <summary>Puts a grain class under <see cref="NodePlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
internal sealed class NodePlacementAttribute : PlacementAttribute
{
    public NodePlacementAttribute() : base(NodePlacement.Instance)
    {
    }
}

internal sealed class NodePlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        string key = target.GrainIdentity.Key.ToString()!;
        SiloAddress wanted = SiloAddress.FromParsableString(key);
        if (!context.GetCompatibleSilos(target).Contains(wanted))
        {
            throw new NodeLostException($"The node at {wanted} is not an active member of the cluster (it left or died).");
        }
        return Task.FromResult(wanted);
    }
}
