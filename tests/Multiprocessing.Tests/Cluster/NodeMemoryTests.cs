using Multiprocessing.Cluster.Node;
using Trim = Multiprocessing.Cluster.Node.NodeMemory.Trim;

namespace Multiprocessing.Tests.Cluster;

/// <summary>When a node gives memory back: the policy alone, with the figures it would read given.</summary>
public sealed class NodeMemoryTests
{
    private const long Quiet = NodeMemory.QuietBytes / 2;

    [Fact]
    public void QuietChecks_AfterStartUp_GiveBackTheCompilersMemory_ForAFewChecksOnly()
    {
        var memory = new NodeMemory(allocated: 0);

        Trim[] trims = [.. Enumerable.Range(1, NodeMemory.SettleChecks + 3).Select(second => memory.Decide(allocated: second * Quiet, compiled: 5_000))];

        Assert.Equal([.. Enumerable.Repeat(Trim.CompiledCode, NodeMemory.SettleChecks), Trim.None, Trim.None, Trim.None], trims);
        Assert.Equal((0, NodeMemory.SettleChecks), (memory.Trims, memory.CompilerTrims));
    }

    [Fact]
    public void NewlyCompiledCode_StartsTheChecksAgain()
    {
        var memory = new NodeMemory(allocated: 0);
        long allocated = 0;
        for (int second = 0; second < NodeMemory.SettleChecks; second++)
        {
            memory.Decide(allocated += Quiet, compiled: 5_000);
        }
        Assert.Equal(Trim.None, memory.Decide(allocated += Quiet, compiled: 5_000));

        int again = Enumerable.Range(0, 20).Count(_ => memory.Decide(allocated += Quiet, compiled: 5_040) == Trim.CompiledCode);

        Assert.Equal(NodeMemory.SettleChecks, again);
    }

    [Fact]
    public void BusyNode_DoesNotTrim_UntilItIsQuiet()
    {
        var memory = new NodeMemory(allocated: 0);
        long allocated = 0;

        // Compiling and allocating 1 MiB a second: busy, whatever it compiled.
        for (int second = 1; second <= 4; second++)
        {
            Assert.Equal(Trim.None, memory.Decide(allocated += 1L << 20, compiled: 5_000 + second));
        }
        Assert.Equal(Trim.CompiledCode, memory.Decide(allocated + Quiet, compiled: 5_004));
    }

    [Fact]
    public void EndOfABurst_TrimsEverything_Once()
    {
        var memory = new NodeMemory(allocated: 0);
        long allocated = NodeMemory.BurstBytes;

        Assert.Equal(Trim.None, memory.Decide(allocated, compiled: 5_000));
        Assert.Equal(Trim.Full, memory.Decide(allocated += Quiet, compiled: 5_000));
        // Then the compiler's memory, which the collection does not give back by itself.
        Assert.Equal(Trim.CompiledCode, memory.Decide(allocated += Quiet, compiled: 5_000));
        Assert.Equal(1, memory.Trims);
    }

    [Fact]
    public void SmallAllocationsThatAddUpToABurst_TrimEverythingOnce()
    {
        var memory = new NodeMemory(allocated: 0);
        long allocated = 0;

        // An idle node with a client allocates a few hundred KiB a second (status polls, membership).
        int full = Enumerable.Range(1, 40).Count(_ => memory.Decide(allocated += Quiet, compiled: 5_000) == Trim.Full);

        Assert.Equal(1, full);
    }
}
