using Multiprocessing.Interop;
using Multiprocessing.Worker;

namespace Multiprocessing.Cluster.Node;

/// <summary>
/// The runtime settings a node process runs with, which the runtime reads only at start (from the
/// environment or the runtime config). <c>mp</c>'s runtime config also serves its other commands,
/// so <c>mp node</c> starts itself over (execve: same process id, same streams) with them set, unless
/// the user chose a tiering (the variable or the runtime config's property); docs/cluster.md,
/// "Tiered compilation off in the node process".
/// <list type="bullet">
/// <item>Tiered compilation off: a node's hot paths all turn hot in its first transfer or map, and
/// tiering keeps both the quick and the optimised code. With it off a node held about 9 MiB less after a
/// 1 GiB transfer and had no slow first calls (submit p99 0.6 – 2.2 ms per round instead of 3.4 – 8), for
/// about 0.6 s more start-up.</item>
/// <item>A 1 MiB gen0 budget (unless set): a node holds little managed data, and what it allocates
/// between collections stays committed; about 1 MiB less per node after a transfer.</item>
/// <item>At most 1 MiB of the JIT's freed scratch memory kept for reuse (the runtime keeps up to
/// 16 MiB and lets it go only seconds after the last compile), and blocks of 64 KiB or more mapped
/// on their own by the C library, so that what the JIT frees beyond the 1 MiB goes back to the system
/// at once instead of staying in the C library's arenas (unless either is set). A node compiles on
/// the first use of each path, long after start-up too (Orleans' own timers among them); each time it
/// held several MiB more for a few seconds. In the 1 GiB shared-array row the two nodes read 95 – 96 MiB
/// against 94 – 102, without the rises of 8 – 10 MiB that followed a late compile, for 0.37 s more start-up
/// (docs/cluster.md, "The tenth session"). Keeping none was as small but slowed start-up by 2 s: every
/// slab of every compile was then mapped and unmapped. Keeping none with the default threshold was
/// larger: the freed slabs stayed in the arenas among live blocks.</item>
/// </list>
/// The node's workers run user code and get the runtime's default tiering and the C library's default
/// allocator back (their gen0 budget and JIT cache are the pool's own, <c>WorkerLauncher</c>). With tiering off, code of the framework's precompiled images
/// is never compiled again optimised: a task that serialised JSON ran 1.4 – 2× slower (docs/cluster.md,
/// "Tiered compilation off in the node process"), which 1 – 2 MiB less per worker does not pay for.
/// </summary>
internal static class NodeRuntime
{
    /// <summary>The runtime's variable for tiering; 0 turns it off.</summary>
    public const string Variable = "DOTNET_TieredCompilation";

    /// <summary>The runtime's variable for the gen0 budget (hexadecimal bytes).</summary>
    public const string Gen0Variable = "DOTNET_GCgen0size";

    /// <summary>The node's gen0 budget: 1 MiB.</summary>
    public const string Gen0Budget = "0x100000";

    /// <summary>The node's limit on the JIT's kept scratch memory (hexadecimal bytes): 1 MiB.</summary>
    public const string JitScratchLimit = "0x100000";

    /// <summary>The C library's variable for the size from which a block gets a mapping of its own, unmapped when freed.</summary>
    public const string MallocVariable = "MALLOC_MMAP_THRESHOLD_";

    /// <summary>The node's threshold, in bytes: 64 KiB, the size of the JIT's scratch slabs.</summary>
    public const string MallocThreshold = "65536";

    /// <summary>
    /// Set by the restart to the variables it set, separated by commas, so the node knows which are its
    /// own rather than the user's (and does not start over again).
    /// </summary>
    public const string Marker = "MP_NODE_RESTARTED";

    private const string RuntimeConfigProperty = "System.Runtime.TieredCompilation";

    /// <summary>Whether this process should start over with the node's settings: nobody chose a tiering, and it has not already.</summary>
    public static bool ShouldRestart() =>
        Environment.GetEnvironmentVariable(Marker) is null
        && Environment.GetEnvironmentVariable(Variable) is null
        && Environment.GetEnvironmentVariable("COMPlus_TieredCompilation") is null
        && AppContext.GetData(RuntimeConfigProperty) is null;

    /// <summary>
    /// Replaces this process with a fresh start of the same command line and the node's settings.
    /// Returns only if the kernel refused, with the error; the caller then goes on with the runtime's defaults.
    /// </summary>
    public static Exception Restart()
    {
        try
        {
            Dictionary<string, string?> changes = Settings(Environment.GetEnvironmentVariable);
            IReadOnlyList<string> arguments = ProcFs.ReadOwnCommandLine();
            IReadOnlyList<string> environment = ChildProcess.EnvironmentBlock(changes);
            // The runtime names its diagnostics socket and debugger pipes after the process id and start
            // time, which exec keeps; the runtime after the exec cannot create a name the one before left,
            // and dotnet-counters, dotnet-trace and dotnet-dump could not reach the node. Best effort: if the
            // exec then fails, this runtime keeps serving the tools already attached, new ones cannot find it.
            WorkerLauncher.RemoveDiagnosticFiles(Environment.ProcessId);
            Libc.ExecSelf(arguments, environment);
            return new InvalidOperationException("execve returned without an error.");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InsufficientMemoryException)
        {
            return e;
        }
    }

    /// <summary>
    /// The variables the restart sets, given the environment before it (<paramref name="read"/>): each
    /// of the node's settings the user has not chosen, and the marker naming them.
    /// </summary>
    internal static Dictionary<string, string?> Settings(Func<string, string?> read)
    {
        var changes = new Dictionary<string, string?>(StringComparer.Ordinal) { [Variable] = "0" };
        if (read(Gen0Variable) is null)
        {
            changes[Gen0Variable] = Gen0Budget;
        }
        if (read(WorkerLauncher.JitScratchVariable) is null)
        {
            changes[WorkerLauncher.JitScratchVariable] = JitScratchLimit;
        }
        // The C library reads the threshold from this variable or from its tunables; either is the user's choice.
        if (read(MallocVariable) is null && read("GLIBC_TUNABLES")?.Contains("glibc.malloc.mmap_threshold", StringComparison.Ordinal) != true)
        {
            changes[MallocVariable] = MallocThreshold;
        }
        changes[Marker] = string.Join(',', changes.Keys);
        return changes;
    }

    /// <summary>
    /// The node's pool options, with the restart's tiering and C-library threshold taken out of its
    /// workers' environment when the restart set them. What the user chose (in the node's environment
    /// before the restart, or in the pool's <see cref="ProcessPoolOptions.WorkerEnvironment"/>) stays.
    /// </summary>
    public static ProcessPoolOptions ForWorkers(ProcessPoolOptions options) =>
        ForWorkers(options, Environment.GetEnvironmentVariable(Marker));

    /// <summary><see cref="ForWorkers(ProcessPoolOptions)"/> with the restart's marker given (null: this process did not start over).</summary>
    internal static ProcessPoolOptions ForWorkers(ProcessPoolOptions options, string? marker)
    {
        if (marker is null)
        {
            return options;
        }
        var environment = new Dictionary<string, string?>(options.WorkerEnvironment, StringComparer.Ordinal);
        // The gen0 budget and the JIT cache need no removal: the pool's launcher sets its own for every worker.
        foreach (string name in marker.Split(','))
        {
            if (name is Variable or MallocVariable)
            {
                environment.TryAdd(name, null);
            }
        }
        environment[Marker] = null;
        return options with { WorkerEnvironment = environment };
    }
}
