using Orleans.Runtime;
using Orleans.Concurrency;

namespace Multiprocessing.Cluster.Node;

/// <summary>What became of a piece sent to a <see cref="IPieceSinkGrain"/>.</summary>
[GenerateSerializer, Alias("mp.PieceReceipt")]
internal enum PieceReceipt
{
    /// <summary>Checked against its checksum and written into the node's copy.</summary>
    Written,

    /// <summary>Its bytes did not match the checksum; nothing was written.</summary>
    Mismatch,

    /// <summary>The call reached another node than the one named; nothing was written.</summary>
    WrongNode,
}

/// <summary>
/// Takes the pieces of a shared array on the node whose gateway received the call. A client's call to
/// a node's own grain goes through the gateway Orleans' client picks for that grain (by its hash), which
/// may be the other node's; that node then forwards every piece, and its network and buffer pools keep
/// what passed through them (docs/cluster.md, "What a node process costs"). A stateless worker is
/// activated on the silo that receives the call, so the client probes keys until one lands on the node
/// it sends to, and sends that node's pieces there.
/// </summary>
[Alias("mp.IPieceSinkGrain")]
internal interface IPieceSinkGrain : IGrainWithIntegerKey
{
    /// <summary>The address of the node this call landed on, as the node's grain is keyed (<see cref="SiloAddress.ToParsableString"/>).</summary>
    [Alias("Where")]
    Task<string> NodeAddressAsync();

    /// <summary>As <see cref="INodeGrain.WriteSharedDataAsync"/>, if this is the node at <paramref name="target"/>.</summary>
    [Alias("Write")]
    Task<PieceReceipt> WriteAsync(string target, Guid client, Guid id, long offset, SharedPiece data, ulong checksum);
}

/// <summary>The sink on one node: it writes into the same copies as the node's grain.</summary>
[StatelessWorker]
internal sealed class PieceSinkGrain(LocalNode node, ILocalSiloDetails silo) : Grain, IPieceSinkGrain
{
    private readonly string _address = silo.SiloAddress.ToParsableString();

    public Task<string> NodeAddressAsync() => Task.FromResult(_address);

    public Task<PieceReceipt> WriteAsync(string target, Guid client, Guid id, long offset, SharedPiece data, ulong checksum)
    {
        if (target != _address)
        {
            data.Release();
            return Task.FromResult(PieceReceipt.WrongNode);
        }
        return Task.FromResult(node.SharedData.Write(client, id, offset, data, checksum) ? PieceReceipt.Written : PieceReceipt.Mismatch);
    }
}
