using System.Runtime.InteropServices;
using Multiprocessing.Wire;

namespace Multiprocessing.Worker;

/// <summary>
/// Starts worker processes: the library's small host executable, run by the same dotnet with the
/// calling application's runtime config and dependency manifest, so the host can load the
/// application's assemblies (and their NuGet dependencies) and run a method from them without
/// ever running the application's Main.
/// </summary>
internal static class WorkerLauncher
{
    public const string HostAssemblyName = "Multiprocessing.WorkerHost.dll";

    private static readonly Lazy<HostCommand> s_command = new(ResolveCommand);
    private static string? s_application;

    /// <summary>
    /// Makes every worker this process starts run with another application's runtime config and
    /// dependency manifest (a cluster node started as <c>mp node --app App.dll</c> runs App's tasks,
    /// not its own). Process-wide, and only before the first worker starts.
    /// </summary>
    /// <exception cref="FileNotFoundException">The application, its .deps.json or its .runtimeconfig.json is missing.</exception>
    /// <exception cref="InvalidOperationException">Workers were already started for another application.</exception>
    public static void UseApplication(string applicationPath)
    {
        string path = Path.GetFullPath(applicationPath);
        foreach (string file in new[] { path, Path.ChangeExtension(path, ".deps.json"), Path.ChangeExtension(path, ".runtimeconfig.json") })
        {
            if (!File.Exists(file))
            {
                throw new FileNotFoundException($"Worker processes for {path} need {file}, which does not exist. Point at the application's build output (the folder holding App.dll, App.deps.json and App.runtimeconfig.json).", file);
            }
        }
        string? previous = Interlocked.CompareExchange(ref s_application, path, null);
        if ((previous is not null && previous != path) || (s_command.IsValueCreated && s_command.Value.DepsFile != Path.ChangeExtension(path, ".deps.json")))
        {
            throw new InvalidOperationException($"Workers of this process already run {previous ?? "this process's own application"}; one process runs one application's workers.");
        }
    }

    /// <summary>The runtime's variable for how much of the JIT's freed scratch memory it keeps for reuse (hexadecimal bytes).</summary>
    public const string JitScratchVariable = "DOTNET_JitHostMaxSlabCache";

    /// <summary>
    /// Starts one worker process; it connects back through <paramref name="expectation"/>. Its output
    /// must be attached (<see cref="ChildProcess.AttachOutput"/>) soon after, before it fills the pipes.
    /// </summary>
    public static ChildProcess Start(ConnectionListener.Expectation expectation, WorkerSettings settings)
    {
        HostCommand command = s_command.Value;
        string[] arguments =
        [
            "exec",
            "--runtimeconfig",
            settings.EnableDiagnostics
                ? command.RuntimeConfig
                : WorkerRuntimeConfig.WithoutEventSources(command.RuntimeConfig, Path.GetDirectoryName(expectation.SocketPath)!),
            "--depsfile",
            command.DepsFile,
            command.Host,
        ];
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            [Protocol.SocketVariable] = expectation.SocketPath,
            [Protocol.TokenVariable] = expectation.Token,
            // A server GC allocates a heap per core in every worker; workers are many and small.
            ["DOTNET_gcServer"] = "0",
            ["DOTNET_GCgen0size"] = "0x400000",
            ["DOTNET_TieredPGO"] = "0",
            // No background GC thread: a worker's heap is small and start-up is what counts.
            ["DOTNET_gcConcurrent"] = "0",
            // The runtime keeps up to 16 MiB of the JIT's freed scratch memory for reuse and lets it go
            // only on finalizer-thread passes, which a waiting worker seldom has. Without the cache, four
            // workers that had run new code held 2.3 MiB less, and a pool started as fast
            // (docs/cluster.md, "The ninth session").
            [JitScratchVariable] = "0",
        };
        if (!settings.EnableDiagnostics)
        {
            // Without this every worker creates IPC files in the temp folder that a killed worker leaves behind.
            environment["DOTNET_EnableDiagnostics"] = "0";
        }
        foreach ((string name, string? value) in settings.Environment)
        {
            environment[name] = value;
        }
        return ChildProcess.Start(command.Dotnet, arguments, environment);
    }

    /// <summary>
    /// Removes the runtime's diagnostic IPC files of <paramref name="pid"/> from the temp folder: those a
    /// killed worker leaves, and a process's own before it execs itself (mp node's start over). Best effort.
    /// </summary>
    public static void RemoveDiagnosticFiles(int pid)
    {
        try
        {
            foreach (string pattern in new[] { $"clr-debug-pipe-{pid}-*", $"dotnet-diagnostic-{pid}-*" })
            {
                foreach (string file in Directory.EnumerateFiles(Path.GetTempPath(), pattern))
                {
                    File.Delete(file);
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static HostCommand ResolveCommand()
    {
        Interop.Libc.EnsureSupported();
        if (Volatile.Read(ref s_application) is { } application)
        {
            return ResolveCommand(Path.ChangeExtension(application, ".deps.json"), Path.ChangeExtension(application, ".runtimeconfig.json"), Path.GetDirectoryName(application)!);
        }
        string? depsFiles = AppContext.GetData("APP_CONTEXT_DEPS_FILES") as string;
        int end = depsFiles?.IndexOf(';') ?? -1;
        string depsFile = (end >= 0 ? depsFiles![..end] : depsFiles) is { Length: > 0 } first
            ? first
            : throw new InvalidOperationException(
                "Worker processes need the application's dependency manifest (.deps.json), and this process has none (is it self-contained or single-file?). " +
                "Run the application framework-dependent (dotnet run, dotnet App.dll or its apphost).");
        string runtimeConfig = Path.ChangeExtension(depsFile[..^".json".Length], null) + ".runtimeconfig.json";
        if (!File.Exists(runtimeConfig))
        {
            throw new InvalidOperationException($"Worker processes need the application's runtime config, expected at {runtimeConfig}, which does not exist.");
        }
        return ResolveCommand(depsFile, runtimeConfig, null);
    }

    private static HostCommand ResolveCommand(string depsFile, string runtimeConfig, string? applicationDirectory)
    {
        // Another application's workers load its own copy of the library: its host comes first.
        // (Plain code rather than LINQ or RuntimeEnvironment: this runs before a fresh pool's first
        // launch, where loading those assemblies would cost the first worker milliseconds.)
        string? host = null;
        foreach (string candidate in (ReadOnlySpan<string>)
        [
            applicationDirectory is null ? "" : Path.Combine(applicationDirectory, HostAssemblyName),
            Path.Combine(Path.GetDirectoryName(typeof(WorkerLauncher).Assembly.Location) ?? "", HostAssemblyName),
            Path.Combine(AppContext.BaseDirectory, HostAssemblyName),
        ])
        {
            if (candidate.Length > 0 && File.Exists(candidate))
            {
                host = candidate;
                break;
            }
        }
        if (host is null)
        {
            throw new InvalidOperationException(
                $"The worker host {HostAssemblyName} was not found next to Multiprocessing.dll or in {AppContext.BaseDirectory}. " +
                "It is copied there by the Multiprocessing package or project reference; check that the build output is complete.");
        }
        string runtimeDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        // <dotnet root>/shared/Microsoft.NETCore.App/<version>/System.Private.CoreLib.dll
        string dotnet = Path.GetFullPath(Path.Combine(runtimeDirectory, "..", "..", "..", "dotnet"));
        if (!File.Exists(dotnet))
        {
            dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { } hostPath && File.Exists(hostPath) ? hostPath : "dotnet";
        }
        return new HostCommand(dotnet, runtimeConfig, depsFile, host);
    }

    private sealed record HostCommand(string Dotnet, string RuntimeConfig, string DepsFile, string Host);
}

/// <summary>How worker processes are started; <paramref name="OutputLogger"/> receives their console output (null: this process's console).</summary>
internal sealed record WorkerSettings(bool EnableDiagnostics, IReadOnlyDictionary<string, string?> Environment, TimeSpan StartTimeout, long MaxMessageSize, Microsoft.Extensions.Logging.ILogger? OutputLogger = null)
{
    /// <summary>How long a frame from a worker may stay incomplete once its first bytes arrived before the worker is killed (see <see cref="WorkerConnection"/>).</summary>
    public TimeSpan FrameTimeout { get; init; } = DefaultFrameTimeout;

    /// <summary>Long enough for a frame of the largest MaxMessageSize to cross a loaded machine; short enough that a worker stuck halfway through a frame does not hold its task for good.</summary>
    public static readonly TimeSpan DefaultFrameTimeout = TimeSpan.FromSeconds(30);
}
