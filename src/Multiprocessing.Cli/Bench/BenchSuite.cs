using System.Diagnostics;
using System.Globalization;

namespace Multiprocessing.Cli.Bench;

/// <summary>What <c>mp bench</c> was asked to do.</summary>
/// <param name="Quick">CI-sized runs (passed on to every mode as --quick).</param>
/// <param name="OutputFile">The report; its charts go to images/ beside it.</param>
/// <param name="Groups">The groups to run, in suite order.</param>
/// <param name="Build">Build the benchmark runner (Release) before running it.</param>
/// <param name="Python">The CPython interpreter of the peers.</param>
/// <param name="CommandLine">The command as typed, for the report.</param>
internal sealed record BenchOptions(bool Quick, string OutputFile, IReadOnlyList<string> Groups, bool Build, string Python, string CommandLine)
{
    /// <summary>Whether the modes also rewrite their own pages in docs/benchmarks (a full run to the default report).</summary>
    public bool UpdateGroupReports { get; init; }
}

/// <summary>
/// Runs the groups one after another (each benchmark mode as a child process of this one, so the
/// whole suite is one process tree and one sitting), reads their reports, and writes the suite's
/// report and charts. It measures and reports; it never judges a figure by a time limit.
/// </summary>
internal sealed class BenchSuite(BenchRepository repository, BenchOptions options, TextWriter log)
{
    /// <summary>The groups in suite order, with the benchmark mode that runs each (null: run in-process).</summary>
    public static readonly IReadOnlyList<(string Name, string? Mode, string Title)> AllGroups =
    [
        ("pool", "sidebyside", "Process pool: tiny-task map, submit round trip, start, idle memory"),
        ("sharedmem", "sharedmem", "Shared memory: handing data to a task, N workers reading one dataset"),
        ("locks", "locks", "Locks: SharedLock hand-off between two processes"),
        ("channels", "channels", "Channels: SharedChannel small messages between processes"),
        ("speedup", null, "CPU-bound speed-up: pool vs Parallel.For vs CPython Pool"),
    ];

    /// <summary>
    /// Options added to a mode's own --quick where that alone takes minutes: the channel matrix runs
    /// only its 8-byte payload (the DESIGN target's small message).
    /// </summary>
    private static readonly Dictionary<string, string[]> QuickExtras = new() { ["channels"] = ["--only", "long"] };

    /// <summary>
    /// Each mode's own detailed report in the repository. A full run that writes the default suite
    /// report lets every mode rewrite its page there too (keeping the hand-written notes below its
    /// marker), so that the pages and docs/BENCHMARKS.md come from the same sitting.
    /// </summary>
    private static readonly Dictionary<string, string> GroupReports = new()
    {
        ["sidebyside"] = "docs/benchmarks/pool.md",
        ["sharedmem"] = "docs/benchmarks/shared-memory.md",
        ["locks"] = "docs/benchmarks/locks.md",
        ["channels"] = "docs/benchmarks/channels.md",
    };

    /// <summary>Runs the suite and writes the report; returns the groups' results.</summary>
    public async Task<IReadOnlyList<GroupResult>> RunAsync(CancellationToken cancellationToken)
    {
        var total = Stopwatch.StartNew();
        DateTime started = DateTime.UtcNow;
        string loadAtStart = MachineInfo.LoadAverage();
        IReadOnlyList<string> machine = await MachineInfo.DescribeAsync(options.Python, cancellationToken).ConfigureAwait(false);
        string source = await repository.DescribeSourceAsync(cancellationToken).ConfigureAwait(false);
        var results = new List<GroupResult>();
        string? runner = null;
        string? runnerNote = null;
        bool needsRunner = AllGroups.Any(g => g.Mode is not null && options.Groups.Contains(g.Name));
        if (needsRunner)
        {
            (runner, runnerNote) = await PrepareRunnerAsync(cancellationToken).ConfigureAwait(false);
        }
        string temp = Directory.CreateTempSubdirectory("mp-bench-").FullName;
        try
        {
            foreach ((string name, string? mode, string title) in AllGroups)
            {
                var group = new GroupResult(name, title);
                results.Add(group);
                if (!options.Groups.Contains(name))
                {
                    group.Status = GroupStatus.Skipped;
                    group.Notes.Add("Not run (left out with --only).");
                    continue;
                }
                Log($"== {name}: {title}");
                var clock = Stopwatch.StartNew();
                try
                {
                    if (mode is null)
                    {
                        string script = Path.Combine(repository.Root, "bench", "python", "speedup_peer.py");
                        await SpeedupGroup.RunAsync(group, SpeedupGroup.Settings.For(options.Quick), options.Python, File.Exists(script) ? script : null, Log, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        await RunModeAsync(group, mode, runner, runnerNote, temp, cancellationToken).ConfigureAwait(false);
                    }
                }
                catch (Exception e) when (e is InvalidOperationException or IOException or System.Text.Json.JsonException or KeyNotFoundException
                    or WorkerException or WorkerStartException or TimeoutException or System.ComponentModel.Win32Exception)
                {
                    group.Status = GroupStatus.Failed;
                    group.Notes.Add($"Failed: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
                    Log($"   {name} failed: {e.Message.ReplaceLineEndings(" ")}");
                }
                group.Elapsed = clock.Elapsed;
                Log(string.Create(CultureInfo.InvariantCulture, $"   {name}: {group.Status}, {group.Elapsed.TotalSeconds:0} s"));
            }
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
        total.Stop();
        var writer = new BenchReportWriter(options, repository, machine, source, started, loadAtStart, MachineInfo.LoadAverage(), total.Elapsed) { BuildNote = _buildNote };
        writer.Write(results);
        return results;
    }

    private async Task RunModeAsync(GroupResult group, string mode, string? runner, string? runnerNote, string temp, CancellationToken cancellationToken)
    {
        if (!repository.HasMode(mode))
        {
            group.Status = GroupStatus.NotAvailable;
            group.Notes.Add($"Not measured: the benchmark runner (bench/Multiprocessing.Benchmarks/Program.cs) has no `{mode}` mode in this checkout yet.");
            Log($"   no `{mode}` mode in the benchmark runner: not measured");
            return;
        }
        if (runner is null)
        {
            group.Status = GroupStatus.Failed;
            group.Notes.Add("Not measured: " + (runnerNote ?? "the benchmark runner could not be built."));
            return;
        }
        if (runnerNote is not null)
        {
            group.Notes.Add(runnerNote);
        }
        if (!BenchRepository.BuildHasMode(runner, mode))
        {
            // An unknown mode would fall through to BenchmarkDotNet's switcher: never start it.
            group.Status = GroupStatus.Failed;
            group.Notes.Add($"Not measured: the runner's source has a `{mode}` mode but the build that could be run does not.");
            return;
        }
        string? page = options.UpdateGroupReports ? GroupReports.GetValueOrDefault(mode) : null;
        string reportFile = page is not null ? Path.Combine(repository.Root, page) : Path.Combine(temp, mode + ".md");
        List<string> arguments = [runner, mode];
        if (options.Quick)
        {
            arguments.Add("--quick");
            if (QuickExtras.TryGetValue(mode, out string[]? extras))
            {
                arguments.AddRange(extras);
                group.Notes.Add($"`--quick` runs this group with `{string.Join(' ', extras)}` as well, to keep the suite within a few minutes.");
            }
        }
        arguments.AddRange(["--out", reportFile]);
        group.Command = $"dotnet bench/Multiprocessing.Benchmarks/bin/Release/net10.0/Multiprocessing.Benchmarks.dll {string.Join(' ', arguments.Skip(1).SkipLast(1))} {page ?? "<temporary file>"}";
        TimeSpan timeout = options.Quick ? TimeSpan.FromMinutes(5) : TimeSpan.FromMinutes(90);
        ChildResult result = await ChildRunner.RunAsync("dotnet", arguments, repository.Root, timeout, line => Log("   " + StripTime(line)), cancellationToken).ConfigureAwait(false);
        if (result.TimedOut)
        {
            throw new TimeoutException($"`{mode}` did not finish within {timeout.TotalMinutes:0} min and was stopped.");
        }
        if (result.ExitCode != 0)
        {
            string last = result.Error.Trim().Split('\n').LastOrDefault()?.Trim() ?? "";
            throw new InvalidOperationException($"`{mode}` exited with code {result.ExitCode}: {last}");
        }
        group.RawReport = File.Exists(reportFile) ? await File.ReadAllTextAsync(reportFile, cancellationToken).ConfigureAwait(false) : result.Output;
        if (group.RawReport.Trim().Length == 0)
        {
            throw new InvalidOperationException($"`{mode}` wrote no report.");
        }
        string docs = Path.Combine(repository.Root, "docs", "benchmarks");
        switch (group.Name)
        {
            case "pool":
                ReportReaders.ReadPool(group);
                ReportReaders.ReadGapsPage(group, Path.Combine(docs, "pool-gaps.md"), "benchmarks/pool-gaps.md");
                break;
            case "sharedmem":
                ReportReaders.ReadSharedMemory(group);
                ReportReaders.ReadGapsPage(group, Path.Combine(docs, "shared-memory-gaps.md"), "benchmarks/shared-memory-gaps.md");
                break;
            case "locks":
                ReportReaders.ReadLocks(group);
                ReportReaders.ReadGapsPage(group, Path.Combine(docs, "locks-gaps.md"), "benchmarks/locks-gaps.md");
                break;
            case "channels":
                ReportReaders.ReadChannels(group);
                ReportReaders.ReadGapsPage(group, Path.Combine(docs, "channels-gaps.md"), "benchmarks/channels-gaps.md");
                break;
            default:
                ReportReaders.ReadGeneric(group);
                ReportReaders.ReadGapsPage(group, Path.Combine(docs, group.Name + "-gaps.md"), $"benchmarks/{group.Name}-gaps.md");
                break;
        }
    }

    /// <summary>Builds the runner (unless --no-build) and returns its dll, or null and why not.</summary>
    private async Task<(string? Dll, string? Note)> PrepareRunnerAsync(CancellationToken cancellationToken)
    {
        string dll = repository.BenchDll;
        if (options.Build && File.Exists(dll) && repository.NewestSourceWrite() < File.GetLastWriteTimeUtc(dll))
        {
            Log("The benchmark runner's build is newer than its sources and the library's: not rebuilding.");
            _buildNote = "Benchmark runner: its Release build was newer than every source of it and of the library, so it was not rebuilt";
        }
        else if (options.Build || !File.Exists(dll))
        {
            Log("Building bench/Multiprocessing.Benchmarks (Release) ...");
            ChildResult build = await ChildRunner.RunAsync("dotnet", ["build", repository.BenchProject, "-c", "Release", "-nologo", "-v", "q"],
                repository.Root, TimeSpan.FromMinutes(10), null, cancellationToken).ConfigureAwait(false);
            if (build.ExitCode != 0)
            {
                string firstError = (build.Output + build.Error).Split('\n').FirstOrDefault(l => l.Contains("error", StringComparison.OrdinalIgnoreCase))?.Trim() ?? "see dotnet build";
                Log("   build failed: " + firstError);
                return File.Exists(dll)
                    ? (dll, string.Create(CultureInfo.InvariantCulture, $"The benchmark runner did not build from the working tree ({firstError}); the previous build, from {File.GetLastWriteTimeUtc(dll):yyyy-MM-dd HH:mm} UTC, was measured."))
                    : (null, $"the benchmark runner did not build ({firstError}).");
            }
            Log(string.Create(CultureInfo.InvariantCulture, $"   built in {build.Elapsed.TotalSeconds:0} s"));
            _buildNote = string.Create(CultureInfo.InvariantCulture, $"Benchmark runner: built (`dotnet build -c Release`) from the working tree first, in {build.Elapsed.TotalSeconds:0} s (part of the total time, not of any measurement)");
        }
        else if (!options.Build)
        {
            string note = string.Create(CultureInfo.InvariantCulture, $"The existing build of the benchmark runner, from {File.GetLastWriteTimeUtc(dll):yyyy-MM-dd HH:mm} UTC, was measured (--no-build).");
            Log(note);
            return (dll, note);
        }
        return (dll, null);
    }

    /// <summary>The modes stamp their own progress lines ("[06:19:17] …"); the suite's stamp is enough.</summary>
    private string? _buildNote;

    private static string StripTime(string line) =>
        line.Length > 11 && line[0] == '[' && line[9] == ']' && line[3] == ':' ? line[11..] : line;

    private void Log(string message)
    {
        lock (log)
        {
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{DateTime.Now:HH:mm:ss}] {message}"));
            log.Flush();
        }
    }
}
