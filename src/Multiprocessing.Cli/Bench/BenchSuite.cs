using System.Diagnostics;
using System.Globalization;
using Multiprocessing.Benchmarks.Results;

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
/// whole suite is one process tree and one sitting), reads the results each mode writes as JSON
/// (--json), and writes the suite's report and charts. It measures and reports; it never judges a figure by a time limit.
/// </summary>
internal sealed class BenchSuite(BenchRepository repository, BenchOptions options, TextWriter log)
{
    /// <summary>The groups in suite order, with the benchmark mode that runs each (null: run in-process).</summary>
    public static readonly IReadOnlyList<(string Name, string? Mode, string Title)> AllGroups =
    [
        ("pool", RunnerModes.Pool, "Process pool: tiny-task map, submit round trip, start, idle memory"),
        ("sharedmem", RunnerModes.SharedMemory, "Shared memory: handing data to a task, N workers reading one dataset"),
        ("locks", RunnerModes.Locks, "Locks: SharedLock hand-off between two processes"),
        ("channels", RunnerModes.Channels, "Channels: SharedChannel small messages between processes"),
        ("cluster", RunnerModes.Cluster, "Cluster: ClusterPool over 2 local nodes vs Dask distributed (map, submit, a node killed)"),
        ("speedup", null, "CPU-bound speed-up: pool vs Parallel.For vs CPython Pool"),
    ];

    /// <summary>
    /// About what each group takes on the idle 2-core machine the suite is developed on (full: the
    /// run of 2026-12-01; --quick: about 1.5 min in all), for the estimate of the time left before
    /// a group has run here. Once groups have finished, or the running one is slower than its
    /// figure, the estimate is scaled by how long they took against these.
    /// </summary>
    internal static readonly Dictionary<string, (double Quick, double Full)> TypicalTimes = new()
    {
        ["pool"] = (35, 75),
        ["sharedmem"] = (25, 540),
        ["locks"] = (15, 160),
        ["channels"] = (15, 330),
        // From its first runs, on the machine at load 10-12 rather than idle (full: 5 rounds, 11.7 min; --quick: 2 rounds).
        ["cluster"] = (200, 700),
        ["speedup"] = (5, 20),
    };

    /// <summary>The hand-written page that explains a group's shortfalls.</summary>
    private static readonly Dictionary<string, string> GapsPages = new()
    {
        ["pool"] = "pool-gaps.md",
        ["sharedmem"] = "shared-memory-gaps.md",
        ["locks"] = "locks-gaps.md",
        ["channels"] = "channels-gaps.md",
    };

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
        ["cluster"] = "docs/benchmarks/cluster.md",
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
        IReadOnlyList<string> modes = [];
        bool needsRunner = AllGroups.Any(g => g.Mode is not null && options.Groups.Contains(g.Name));
        if (needsRunner)
        {
            (runner, runnerNote) = await PrepareRunnerAsync(cancellationToken).ConfigureAwait(false);
            modes = runner is null ? [] : await ListModesAsync(runner, cancellationToken).ConfigureAwait(false);
        }
        string temp = Directory.CreateTempSubdirectory("mp-bench-").FullName;
        _progress = new SuiteProgress(options.Groups, options.Quick, total);
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
                _progress.Start(name);
                Log($"== group {_progress.Current} of {_progress.Count}, {name}: {title}");
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
                        await RunModeAsync(group, mode, runner, runnerNote, modes, temp, cancellationToken).ConfigureAwait(false);
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
                _progress.Finish(name, group.Elapsed);
                Log(string.Create(CultureInfo.InvariantCulture, $"   {name}: {group.Status}, {group.Elapsed.TotalSeconds:0} s"));
            }
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
            _progress = null;
        }
        total.Stop();
        var writer = new BenchReportWriter(options, repository, machine, source, started, loadAtStart, MachineInfo.LoadAverage(), total.Elapsed) { BuildNote = _buildNote };
        writer.Write(results);
        return results;
    }

    private async Task RunModeAsync(GroupResult group, string mode, string? runner, string? runnerNote, IReadOnlyList<string> modes, string temp, CancellationToken cancellationToken)
    {
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
        if (!modes.Contains(mode))
        {
            // An unknown mode would fall through to BenchmarkDotNet's switcher: never start it.
            group.Status = GroupStatus.NotAvailable;
            group.Notes.Add($"Not measured: the benchmark runner that could be run has no `{mode}` mode (its `{RunnerModes.ListCommand}` does not list it).");
            Log($"   no `{mode}` mode in the benchmark runner: not measured");
            return;
        }
        string? page = options.UpdateGroupReports ? GroupReports.GetValueOrDefault(mode) : null;
        string reportFile = page is not null ? Path.Combine(repository.Root, page) : Path.Combine(temp, mode + ".md");
        string resultsFile = Path.Combine(temp, mode + ".json");
        List<string> shown = [mode];
        if (options.Quick)
        {
            shown.Add("--quick");
            if (QuickExtras.TryGetValue(mode, out string[]? extras))
            {
                shown.AddRange(extras);
                group.Notes.Add($"`--quick` runs this group with `{string.Join(' ', extras)}` as well, to keep the suite within a few minutes.");
            }
        }
        shown.Add("--out");
        group.Command = $"dotnet bench/Multiprocessing.Benchmarks/bin/Release/net10.0/Multiprocessing.Benchmarks.dll {string.Join(' ', shown)} {page ?? "<temporary file>"}";
        // Generous: a busy machine can take several times as long as an idle one; the limit only stops a hung mode.
        TimeSpan timeout = options.Quick ? TimeSpan.FromMinutes(20) : TimeSpan.FromMinutes(90);
        ChildResult result = await ChildRunner.RunAsync("dotnet", [runner, .. shown, reportFile, "--json", resultsFile], repository.Root, timeout,
            line => Log("   " + StripTime(line)), cancellationToken).ConfigureAwait(false);
        if (result.TimedOut)
        {
            throw new TimeoutException($"`{mode}` did not finish within {timeout.TotalMinutes:0} min and was stopped.");
        }
        if (result.ExitCode != 0)
        {
            string last = result.Error.Trim().Split('\n').LastOrDefault()?.Trim() ?? "";
            throw new InvalidOperationException($"`{mode}` exited with code {result.ExitCode}: {last}");
        }
        if (!File.Exists(resultsFile))
        {
            throw new InvalidOperationException($"`{mode}` wrote no results file (--json).");
        }
        group.RawReport = File.Exists(reportFile) ? await File.ReadAllTextAsync(reportFile, cancellationToken).ConfigureAwait(false) : result.Output;
        RunnerResultReader.Apply(group, await RunnerResultsFile.ReadAsync(resultsFile, cancellationToken).ConfigureAwait(false));
        if (GapsPages.TryGetValue(group.Name, out string? gaps))
        {
            RunnerResultReader.ReadGapsPage(group, Path.Combine(repository.Root, "docs", "benchmarks", gaps), "benchmarks/" + gaps);
        }
    }

    /// <summary>The modes the built runner has (it lists them itself); none if it cannot say.</summary>
    private async Task<IReadOnlyList<string>> ListModesAsync(string runner, CancellationToken cancellationToken)
    {
        ChildResult result = await ChildRunner.RunAsync("dotnet", [runner, RunnerModes.ListCommand], repository.Root, TimeSpan.FromMinutes(2), null, cancellationToken).ConfigureAwait(false);
        string[] modes = result.ExitCode == 0 ? result.Output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) : [];
        // A runner too old to know the command falls through to BenchmarkDotNet, which prints no mode names.
        return [.. modes.Where(RunnerModes.All.Contains)];
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

    private SuiteProgress? _progress;

    /// <summary>A line of the log, stamped with the time and, while a group runs, where the suite is ("2/5 sharedmem 3:05, ~4:10 left").</summary>
    private void Log(string message)
    {
        lock (log)
        {
            string where = _progress?.Stamp() is { } stamp ? $" [{stamp}]" : "";
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{DateTime.Now:HH:mm:ss}]{where} {message}"));
            log.Flush();
        }
    }
}

/// <summary>
/// Where a run of the suite is: which group of how many, the time so far, and an estimate of the
/// time left from each group's typical time, scaled by how the groups that finished compared with theirs.
/// </summary>
internal sealed class SuiteProgress(IReadOnlyList<string> groups, bool quick, Stopwatch total)
{
    private static readonly Dictionary<string, (double Quick, double Full)> Typical = BenchSuite.TypicalTimes;

    private readonly List<string> _order = [.. BenchSuite.AllGroups.Select(g => g.Name).Where(groups.Contains)];
    private readonly Stopwatch _group = new();
    private double _typicalDone;
    private double _actualDone;
    private string? _current;
    private bool _currentDone;

    /// <summary>The running group's place, 1-based; 0 before the first.</summary>
    public int Current => _current is null ? 0 : _order.IndexOf(_current) + 1;

    /// <summary>Groups to run.</summary>
    public int Count => _order.Count;

    /// <summary>A group starts.</summary>
    public void Start(string name)
    {
        _current = name;
        _currentDone = false;
        _group.Restart();
    }

    /// <summary>A group ended after <paramref name="elapsed"/>.</summary>
    public void Finish(string name, TimeSpan elapsed)
    {
        _typicalDone += TypicalOf(name);
        _actualDone += elapsed.TotalSeconds;
        _currentDone = true;
    }

    /// <summary>The estimate of the time left, in seconds: the groups not yet finished at their typical time times the pace so far, less what the running group has had.</summary>
    public double SecondsLeft()
    {
        double pace = _typicalDone > 0 ? _actualDone / _typicalDone : 1;
        int next = _current is null ? 0 : _order.IndexOf(_current) + (_currentDone ? 1 : 0);
        bool running = _current is not null && !_currentDone;
        if (running && _current is { } current && _group.Elapsed.TotalSeconds > TypicalOf(current) * pace)
        {
            // The running group is already slower than the pace so far: the machine is, too.
            pace = (_actualDone + _group.Elapsed.TotalSeconds) / (_typicalDone + TypicalOf(current));
        }
        double left = 0;
        for (int i = next; i < _order.Count; i++)
        {
            double expected = TypicalOf(_order[i]) * pace;
            left += i == next && running ? Math.Max(0, expected - _group.Elapsed.TotalSeconds) : expected;
        }
        return left;
    }

    /// <summary>"2/5 sharedmem 3:05, ~4:10 left" while a group runs; null otherwise.</summary>
    public string? Stamp() => _current is null ? null : $"{Current}/{Count} {_current} {Clock(total.Elapsed.TotalSeconds)}, ~{Clock(SecondsLeft())} left";

    private double TypicalOf(string name) => Typical.TryGetValue(name, out (double Quick, double Full) t) ? (quick ? t.Quick : t.Full) : 60;

    private static string Clock(double seconds)
    {
        var time = TimeSpan.FromSeconds(Math.Round(seconds));
        return time.TotalHours >= 1 ? time.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : time.ToString(@"m\:ss", CultureInfo.InvariantCulture);
    }
}
