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
/// </list>
/// The node's workers run user code and get the runtime's default tiering back (their gen0 budget is
/// the pool's own, <c>WorkerLauncher</c>). With tiering off, code of the framework's precompiled images
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

    /// <summary>Set by the restart, so the node knows the tiering variable is its own, not the user's (and does not start over again).</summary>
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
            var changes = new Dictionary<string, string?>(StringComparer.Ordinal) { [Variable] = "0", [Marker] = "1" };
            if (Environment.GetEnvironmentVariable(Gen0Variable) is null)
            {
                changes[Gen0Variable] = Gen0Budget;
            }
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
    /// The node's pool options, with the restart's tiering taken out of its workers' environment when
    /// the restart set it. A tiering the user chose (the node's environment before the restart, or the
    /// pool's <see cref="ProcessPoolOptions.WorkerEnvironment"/>) stays.
    /// </summary>
    public static ProcessPoolOptions ForWorkers(ProcessPoolOptions options) =>
        ForWorkers(options, startedOver: Environment.GetEnvironmentVariable(Marker) is not null);

    /// <summary><see cref="ForWorkers(ProcessPoolOptions)"/> with whether this process started over given.</summary>
    internal static ProcessPoolOptions ForWorkers(ProcessPoolOptions options, bool startedOver)
    {
        if (!startedOver)
        {
            return options;
        }
        var environment = new Dictionary<string, string?>(options.WorkerEnvironment, StringComparer.Ordinal);
        environment.TryAdd(Variable, null);
        environment[Marker] = null;
        return options with { WorkerEnvironment = environment };
    }
}
