using Multiprocessing.Interop;

namespace Multiprocessing.Cluster.Node;

/// <summary>
/// Gives back what a burst of traffic left in the node's heap. A node is a long-lived service that
/// holds little managed data, but a shared-array transfer (or a large map) passes its bytes through
/// the node: the garbage stays committed until a full collection, which an otherwise quiet node may
/// not have for a long time, and the runtime's array pool keeps the message-sized buffers it handed
/// out. Once a burst is over (much allocated since the last trim, almost nothing in the last check
/// interval), one aggressive collection compacts the heap, decommits the free space and lets the
/// pools drop what they kept, and the C library's arenas give back their free pages
/// (docs/cluster.md, "What a node process costs"). A node that forwards
/// another node's traffic (a client's call that reached it through its gateway) trims the same way,
/// though no transfer of its own ended.
/// </summary>
internal sealed class NodeMemory
{
    /// <summary>Allocated since the last trim before a quiet node trims: less is not worth a full collection.</summary>
    internal const long BurstBytes = 8L << 20;

    /// <summary>Allocated within one check interval below which the node counts as quiet.</summary>
    internal const long QuietBytes = 512L << 10;

    private readonly Lock _gate = new();
    private long _atLastTrim = GC.GetTotalAllocatedBytes();
    private long _atLastCheck = GC.GetTotalAllocatedBytes();

    /// <summary>Collections this has made.</summary>
    public int Trims { get; private set; }

    /// <summary>Called at a fixed interval (the node's sweep, every second); trims if a burst has just ended.</summary>
    public void Check()
    {
        lock (_gate)
        {
            CheckLocked();
        }
    }

    private void CheckLocked()
    {
        long now = GC.GetTotalAllocatedBytes();
        long lastInterval = now - _atLastCheck;
        _atLastCheck = now;
        if (now - _atLastTrim < BurstBytes || lastInterval >= QuietBytes)
        {
            return;
        }
        // Aggressive: blocking and compacting, with the free space decommitted rather than kept for reuse.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        // The native side of the same burst: what the runtime freed (the JIT's scratch memory above
        // all) stays mapped in the C library's arenas until they are trimmed.
        Libc.TryTrimNativeHeap();
        _atLastTrim = _atLastCheck = GC.GetTotalAllocatedBytes();
        Trims++;
    }
}
