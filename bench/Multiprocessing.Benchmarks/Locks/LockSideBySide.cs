using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Multiprocessing.Benchmarks.SideBySide;

namespace Multiprocessing.Benchmarks.Locks;

/// <summary>
/// <c>locks</c>: SharedLock against CPython's multiprocessing.Lock and the C futex floor, in one
/// sitting. Each round runs every measurement once, the order reversed every other round, so the
/// machine's drift hits all sides alike. Prints a markdown report and writes docs/benchmarks/locks.md.
/// <c>locks uncontended --n N</c> prints one uncontended measurement (to run under strace).
/// </summary>
internal static partial class LockSideBySide
{
    public const string Command = Results.RunnerModes.Locks;

    /// <summary>Ends the generated part of the report file; the notes written below it by hand survive a regeneration.</summary>
    private const string KeepMarker = "<!-- End of the generated report. What follows is written by hand and kept when the report is regenerated. -->";

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.FirstOrDefault() == "uncontended")
        {
            long pairs = args.Length == 3 && args[1] == "--n" ? long.Parse(args[2], CultureInfo.InvariantCulture) : 10_000_000;
            return LockHandoff.RunUncontendedCommand(pairs);
        }
        Settings? settings = Settings.Parse(args);
        if (settings is null)
        {
            Console.Error.WriteLine("or:    locks uncontended --n N");
            return 2;
        }
        var total = Stopwatch.StartNew();
        bool havePython = settings.Common.HasPython(Log);
        (string? floor, string? floorAbsent) = await Floors.PrepareAsync(settings.Common.FloorSources, "futex_pingpong", Log, "C columns will be n/a").ConfigureAwait(false);
        var results = new Dictionary<string, List<double>>();
        void Add(string key, double value) => (results.TryGetValue(key, out List<double>? list) ? list : results[key] = []).Add(value);
        string pythonVersion = "n/a";

        var measurements = new List<(string Name, Func<Task> Run)>
        {
            ("ours hot", async () =>
            {
                double[] lat = await LockHandoff.RunAsync(settings.Steps, cold: false).ConfigureAwait(false);
                (double p50, double p99, _) = Percentiles.OfSorted(lat);
                Add("ours.hot.p50", p50);
                Add("ours.hot.p99", p99);
            }),
            ("ours cold", async () =>
            {
                double[] lat = await LockHandoff.RunAsync(settings.ColdSteps, cold: true).ConfigureAwait(false);
                (double p50, double p99, _) = Percentiles.OfSorted(lat);
                Add("ours.cold.p50", p50);
                Add("ours.cold.p99", p99);
            }),
            ("ours uncontended", () =>
            {
                Add("ours.uncontended", LockHandoff.Uncontended(settings.UncontendedPairs));
                return Task.CompletedTask;
            }),
        };
        if (floor is not null)
        {
            measurements.Add(("C futex hot", async () =>
            {
                (double p50, double p99) = await FloorAsync(floor, settings.Steps, cold: false).ConfigureAwait(false);
                Add("c.hot.p50", p50);
                Add("c.hot.p99", p99);
            }));
            measurements.Add(("C futex cold", async () =>
            {
                (double p50, double p99) = await FloorAsync(floor, settings.ColdSteps, cold: true).ConfigureAwait(false);
                Add("c.cold.p50", p50);
                Add("c.cold.p99", p99);
            }));
        }
        if (havePython)
        {
            measurements.Add(("CPython hot", async () =>
            {
                JsonElement json = await PythonAsync(settings, "handoff", "--n", Invariant(settings.PythonSteps)).ConfigureAwait(false);
                pythonVersion = json.GetProperty("python").GetString() ?? "?";
                Add("py.hot.p50", json.GetProperty("p50_us").GetDouble());
                Add("py.hot.p99", json.GetProperty("p99_us").GetDouble());
            }));
            measurements.Add(("CPython cold", async () =>
            {
                JsonElement json = await PythonAsync(settings, "handoff", "--cold", "--n", Invariant(settings.PythonColdSteps)).ConfigureAwait(false);
                Add("py.cold.p50", json.GetProperty("p50_us").GetDouble());
                Add("py.cold.p99", json.GetProperty("p99_us").GetDouble());
            }));
            measurements.Add(("CPython uncontended", async () =>
            {
                JsonElement json = await PythonAsync(settings, "uncontended", "--n", Invariant(settings.PythonUncontendedPairs)).ConfigureAwait(false);
                Add("py.uncontended", json.GetProperty("ns_per_pair").GetDouble());
            }));
        }

        Log("Warm-up (JIT, worker host start) ...");
        await LockHandoff.RunAsync(2_000, cold: false).ConfigureAwait(false);
        LockHandoff.Uncontended(1_000_000);
        string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
        for (int round = 0; round < settings.Rounds; round++)
        {
            IEnumerable<(string Name, Func<Task> Run)> order = round % 2 == 0 ? measurements : Enumerable.Reverse(measurements);
            foreach ((string name, Func<Task> run) in order)
            {
                Log($"round {round + 1}/{settings.Rounds}: {name}");
                await run().ConfigureAwait(false);
            }
        }

        var rows = new List<Results.ResultRow>();
        string report = Report(settings, results, pythonVersion, load, total.Elapsed, floor ?? Path.Combine(settings.Common.FloorSources, "futex_pingpong"), rows);
        Console.WriteLine(report);
        if (settings.Common.OutputFile is string file)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            string existing = File.Exists(file) ? await File.ReadAllTextAsync(file).ConfigureAwait(false) : "";
            int kept = existing.IndexOf(KeepMarker, StringComparison.Ordinal);
            string tail = kept >= 0 ? existing[kept..] : KeepMarker + Environment.NewLine;
            await File.WriteAllTextAsync(file, report + Environment.NewLine + tail).ConfigureAwait(false);
            Log($"Wrote {file}");
        }
        await settings.Common.WriteJsonAsync(new Results.RunnerResults { Mode = Command, Rows = rows, Notes = Floors.Notes(floorAbsent) }).ConfigureAwait(false);
        return 0;
    }

    /// <summary>The page, and the comparison rows (as <c>mp bench</c> reads them) added to <paramref name="rows"/>.</summary>
    private static string Report(Settings settings, Dictionary<string, List<double>> results, string pythonVersion, string load, TimeSpan elapsed, string floor, List<Results.ResultRow> rows)
    {
        Summary? Get(string key) => results.TryGetValue(key, out List<double>? values) ? Summary.Of(values) : null;
        static string Cell(Summary? s, string format) => s is { } v
            ? $"{v.Median.ToString(format, CultureInfo.InvariantCulture)} ({v.Min.ToString(format, CultureInfo.InvariantCulture)}–{v.Max.ToString(format, CultureInfo.InvariantCulture)})"
            : "n/a";
        static string Ratio(Summary? ours, Summary? other) => ours is { } o && other is { } p && p.Median > 0
            ? (o.Median / p.Median).ToString("0.00", CultureInfo.InvariantCulture) + "×"
            : "n/a";
        var text = new StringBuilder();
        text.AppendLine("# SharedLock benchmarks: side by side with CPython and the C futex floor");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Generated by `dotnet run -c Release --project bench/Multiprocessing.Benchmarks -- locks{(settings.Common.Quick ? " --quick" : "")}` " +
            $"on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load average at start `{load}`, {settings.Rounds} rounds " +
            $"(every measurement once per round, order reversed every other round), {elapsed.TotalMinutes:0.0} min in all. " +
            $"CPython {pythonVersion} (`{settings.Common.Python}`, bench/python/lock_peer.py); C floor `{floor}`.");
        text.AppendLine();
        text.AppendLine("Cells: median of the per-round figures (min–max across rounds).");
        text.AppendLine();
        text.AppendLine("## Contended hand-off between two processes (round trip, µs)");
        text.AppendLine();
        text.AppendLine("Two processes hand three locks around so that they strictly alternate (parent holds L0, L1; child L2; in step k the parent");
        text.AppendLine("releases L[k%3] and acquires L[(k+2)%3], the child acquires L[k%3] and releases L[(k+2)%3]). One parent step is a round");
        text.AppendLine("trip of two contended hand-offs, each a release the other process waits for: the same two wake-ups as the C futex ping-pong.");
        text.AppendLine("*hot*: steps back to back; *cold*: the parent spins 200 µs before each step, so the peer is asleep in the kernel.");
        text.AppendLine(CultureInfo.InvariantCulture, $"Steps per run: ours and C {settings.Steps:N0} hot / {settings.ColdSteps:N0} cold; CPython {settings.PythonSteps:N0} / {settings.PythonColdSteps:N0}.");
        text.AppendLine();
        text.AppendLine("| | SharedLock p50 | C futex ping-pong p50 | CPython Lock p50 | ours / C | ours / CPython | SharedLock p99 | C p99 | CPython p99 |");
        text.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (string mode in new[] { "hot", "cold" })
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {mode} | {Cell(Get($"ours.{mode}.p50"), "0.00")} | {Cell(Get($"c.{mode}.p50"), "0.00")} | {Cell(Get($"py.{mode}.p50"), "0.00")} | " +
                $"{Ratio(Get($"ours.{mode}.p50"), Get($"c.{mode}.p50"))} | {Ratio(Get($"ours.{mode}.p50"), Get($"py.{mode}.p50"))} | " +
                $"{Cell(Get($"ours.{mode}.p99"), "0.0")} | {Cell(Get($"c.{mode}.p99"), "0.0")} | {Cell(Get($"py.{mode}.p99"), "0.0")} |");
            Summary? ours50 = Get($"ours.{mode}.p50"), c50 = Get($"c.{mode}.p50"), ours99 = Get($"ours.{mode}.p99"), c99 = Get($"c.{mode}.p99");
            double? toFloor = RatioValue(ours50, c50);
            rows.Add(new Results.ResultRow(mode, $"Contended `SharedLock` hand-off round trip between two processes, {mode}, p50 (µs)", Cell(ours50, "0.00"),
                "C futex ping-pong p50 (floor)", Cell(c50, "0.00"), Ratio(ours50, c50), toFloor, "≤ 2× the C futex ping-pong", toFloor is double v ? (v <= 2 ? "yes" : "no") : "n/a"));
            rows.Add(new Results.ResultRow(mode, "The same, p50 (µs)", Cell(ours50, "0.00"), "CPython `multiprocessing.Lock` p50", Cell(Get($"py.{mode}.p50"), "0.00"),
                Ratio(ours50, Get($"py.{mode}.p50")), RatioValue(ours50, Get($"py.{mode}.p50")), "", ""));
            rows.Add(new Results.ResultRow(mode, "The same, p99 (µs)", Cell(ours99, "0.0"), "C futex ping-pong p99", Cell(c99, "0.0"),
                RatioValue(ours99, c99) is double r99 ? SuiteRatio(r99) : "n/a", RatioValue(ours99, c99), "", ""));
        }
        text.AppendLine();
        text.AppendLine("## Uncontended acquire + release in one process (ns per pair)");
        text.AppendLine();
        text.AppendLine("| SharedLock `Acquire().Dispose()` | CPython `lock.acquire(); lock.release()` | CPython / ours |");
        text.AppendLine("| --- | --- | --- |");
        Summary? ours = Get("ours.uncontended");
        Summary? py = Get("py.uncontended");
        text.AppendLine(CultureInfo.InvariantCulture, $"| {Cell(ours, "0.0")} | {Cell(py, "0.0")} | {(ours is { } o && py is { } p ? (p.Median / o.Median).ToString("0.0", CultureInfo.InvariantCulture) + "×" : "n/a")} |");
        rows.Add(new Results.ResultRow("uncontended", "Uncontended acquire + release in one process (ns per pair)", Cell(ours, "0.0"), "CPython `lock.acquire(); lock.release()`", Cell(py, "0.0"),
            RatioValue(ours, py) is double u ? SuiteRatio(u) : "n/a", RatioValue(ours, py), "no system call", "not checked by timing (see the lock tests and the group's report)"));
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Pairs per run: ours {settings.UncontendedPairs:N0}, CPython {settings.PythonUncontendedPairs:N0}.");
        return text.ToString();
    }

    private static double? RatioValue(Summary? ours, Summary? other) => ours is { } o && other is { } p && p.Median > 0 ? o.Median / p.Median : null;

    /// <summary>A ratio the page has no column for, as the suite's report writes it.</summary>
    private static string SuiteRatio(double ratio) => ratio.ToString(ratio >= 0.1 ? "0.00" : "0.0000", CultureInfo.InvariantCulture) + "×";

    private static async Task<(double P50, double P99)> FloorAsync(string program, int count, bool cold)
    {
        ChildOutput output = await ChildProcess.RunCheckedAsync(program, [Invariant(count), cold ? "cold" : "hot"], TimeSpan.FromMinutes(2)).ConfigureAwait(false);
        Match match = FloorLine().Match(output.FirstLine);
        if (!match.Success)
        {
            throw new InvalidDataException($"Unexpected output from {program}: {output.FirstLine}");
        }
        return (double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), double.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture));
    }

    private static async Task<JsonElement> PythonAsync(Settings settings, params string[] arguments)
    {
        ChildOutput output = await ChildProcess.RunCheckedAsync(settings.Common.Python, [settings.Common.PeerScript, .. arguments], TimeSpan.FromMinutes(3)).ConfigureAwait(false);
        using var json = JsonDocument.Parse(output.FirstLine);
        return json.RootElement.Clone();
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static void Log(string message) => Console.Error.WriteLine($"[locks] {message}");

    [GeneratedRegex(@"p50 ([0-9.]+) us, p99 ([0-9.]+) us")]
    private static partial Regex FloorLine();

    private sealed record Settings
    {
        public int Rounds { get; init; } = 7;
        public int Steps { get; init; } = 100_000;
        public int ColdSteps { get; init; } = 20_000;
        public int PythonSteps { get; init; } = 20_000;
        public int PythonColdSteps { get; init; } = 5_000;
        public long UncontendedPairs { get; init; } = 10_000_000;
        public int PythonUncontendedPairs { get; init; } = 1_000_000;
        public required RunnerArguments Common { get; init; }

        public static Settings? Parse(string[] args)
        {
            var command = new RunnerCommand(Command, "lock_peer.py", "SharedLock hand-off and uncontended cost against CPython and the C futex floor.");
            if (command.ParseCommon(args, "locks.md", quickWritesPage: true, out ParseResult parsed) is not { } common)
            {
                return null;
            }
            var settings = new Settings { Common = common };
            if (common.Quick)
            {
                settings = settings with { Rounds = 3, Steps = 20_000, ColdSteps = 5_000, PythonSteps = 5_000, PythonColdSteps = 2_000, UncontendedPairs = 2_000_000, PythonUncontendedPairs = 200_000 };
            }
            return common.Rounds is int rounds ? settings with { Rounds = rounds } : settings;
        }
    }
}
