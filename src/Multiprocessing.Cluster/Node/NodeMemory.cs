using System.Runtime;
using Multiprocessing.Interop;

namespace Multiprocessing.Cluster.Node;

/// <summary>
/// Gives back what a burst of work left in the node process. A node is a long-lived service that
/// holds little managed data, but a shared-array transfer (or a large map) passes its bytes through
/// the node: the garbage stays committed until a full collection, which an otherwise quiet node may
/// not have for a long time, and the runtime's array pool keeps the message-sized buffers it handed
/// out. Once a burst is over (much allocated since the last trim, almost nothing in the last check
/// interval), one aggressive collection compacts the heap, decommits the free space and lets the
/// pools drop what they kept, and the C library's arenas give back their free pages
/// (docs/cluster.md, "What a node process costs"). A node that forwards
/// another node's traffic (a client's call that reached it through its gateway) trims the same way,
/// though no transfer of its own ended.
/// <para>
/// Compiling code leaves memory behind too, outside the managed heap, and with little managed
/// allocation, so no burst follows it: the runtime keeps up to 16 MiB of the JIT's freed scratch
/// memory for reuse (1 MiB in a node that <see cref="NodeRuntime"/> started over), and lets it go (into the C library's arenas, which keep its pages until trimmed;
/// straight back to the system in a node started over, whose C library maps the JIT's slabs on their own) only on its
/// finalizer thread, once it has gone unused for two to four seconds. The finalizer thread runs after collections that
/// found finalizable objects, which a quiet node seldom has. A node compiles most at start-up and on the first map
/// or transfer that takes a new path. So for a few quiet checks after methods were compiled, the node
/// wakes the finalizer thread and trims the C heap: a lone idle node held about 9 MiB less.
/// </para>
/// </summary>
internal sealed class NodeMemory
{
    /// <summary>Allocated since the last trim before a quiet node trims: less is not worth a full collection.</summary>
    internal const long BurstBytes = 8L << 20;

    /// <summary>Allocated within one check interval below which the node counts as quiet.</summary>
    internal const long QuietBytes = 512L << 10;

    /// <summary>
    /// Quiet checks (one a second) that give back the compiler's memory after methods were compiled:
    /// the runtime frees scratch memory that went unused over two of its finalizer-thread passes at least
    /// two seconds apart.
    /// </summary>
    internal const int SettleChecks = 6;

    private readonly Lock _gate = new();
    private long _atLastTrim;
    private long _atLastCheck;
    // Start-up compiled before this was made: its scratch memory is the first to give back.
    private long _compiledSeen = -1;
    private int _settleChecksLeft;
    // 1 while a give-back runs: one at a time, and none piles up behind a blocked finalizer.
    private int _settling;

    /// <summary>Starts counting from what this process has allocated so far.</summary>
    public NodeMemory()
        : this(GC.GetTotalAllocatedBytes())
    {
    }

    /// <summary>Starts counting from <paramref name="allocated"/> managed bytes; for tests of the policy.</summary>
    internal NodeMemory(long allocated)
    {
        _atLastTrim = _atLastCheck = allocated;
    }

    /// <summary>Full trims (collection and C heap) this has made.</summary>
    public int Trims { get; private set; }

    /// <summary>Checks that gave back the compiler's memory.</summary>
    public int CompilerTrims { get; private set; }

    /// <summary>Called at a fixed interval (the node's sweep, every second); trims if a burst has just ended or methods were compiled.</summary>
    public void Check()
    {
        Trim trim;
        lock (_gate)
        {
            trim = Decide(GC.GetTotalAllocatedBytes(), JitInfo.GetCompiledMethodCount());
            if (trim == Trim.Full)
            {
                // Aggressive: blocking and compacting, with the free space decommitted rather than kept for reuse.
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                // The collection allocated nothing the next check should count as a burst.
                _atLastTrim = _atLastCheck = GC.GetTotalAllocatedBytes();
            }
        }
        if (trim == Trim.Full)
        {
            // What the runtime freed (the JIT's scratch memory above all) stays mapped in the C
            // library's arenas until they are trimmed.
            Libc.TryTrimNativeHeap();
        }
        else if (trim == Trim.CompiledCode && Interlocked.Exchange(ref _settling, 1) == 0)
        {
            // Off the caller's thread: in a host of the user's own, a finalizer that blocks would
            // otherwise stop the node's sweep (and its watch over silent clients) with it.
            ThreadPool.UnsafeQueueUserWorkItem(static self => self.GiveBackCompilerMemory(), this, preferLocal: false);
        }
    }

    private void GiveBackCompilerMemory()
    {
        try
        {
            // The runtime lets the JIT's unused scratch memory go on each pass of its finalizer
            // thread, into the C library's arenas, which keep it mapped until they are trimmed.
            GC.WaitForPendingFinalizers();
            Libc.TryTrimNativeHeap();
        }
        finally
        {
            Volatile.Write(ref _settling, 0);
        }
    }

    /// <summary>What to give back, given the figures now; records the check (and the trim it asks for).</summary>
    internal Trim Decide(long allocated, long compiled)
    {
        long lastInterval = allocated - _atLastCheck;
        _atLastCheck = allocated;
        if (compiled != _compiledSeen)
        {
            _compiledSeen = compiled;
            _settleChecksLeft = SettleChecks;
        }
        if (lastInterval >= QuietBytes)
        {
            return Trim.None;
        }
        if (allocated - _atLastTrim >= BurstBytes)
        {
            _atLastTrim = allocated;
            Trims++;
            return Trim.Full;
        }
        if (_settleChecksLeft > 0)
        {
            _settleChecksLeft--;
            CompilerTrims++;
            return Trim.CompiledCode;
        }
        return Trim.None;
    }

    /// <summary>What a check gives back.</summary>
    internal enum Trim
    {
        /// <summary>Nothing: the node is busy, or has nothing new to give back.</summary>
        None,

        /// <summary>The compiler's kept scratch memory, then the C library's free pages: methods were compiled lately.</summary>
        CompiledCode,

        /// <summary>An aggressive collection, then the C library's free pages: a burst of allocation has ended.</summary>
        Full,
    }
}
