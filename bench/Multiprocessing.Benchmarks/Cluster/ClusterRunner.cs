using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Multiprocessing.Benchmarks.Results;
using Multiprocessing.Benchmarks.SideBySide;

namespace Multiprocessing.Benchmarks.Cluster;

/// <summary>Sizes of a <c>cluster</c> run.</summary>
internal sealed record ClusterSettings
{
    public int Rounds { get; init; } = 5;
    public int WorkersPerNode { get; init; } = 1;
    public int MapItems { get; init; } = 1_000_000;
    public int DaskItemsPerTask { get; init; } = 10_000;
    public int DaskBatchedItems { get; init; } = 100_000;
    public int DaskBatch { get; init; } = 1_000;
    public int Submits { get; init; } = 2_000;
    public int DaskSubmits { get; init; } = 1_000;
    public int KillItems { get; init; } = 400;
    public TimeSpan KillAfter { get; init; } = TimeSpan.FromSeconds(0.5);

    /// <summary>The shared array of the memory measurement.</summary>
    public long MemoryBytes { get; init; } = 1L << 30;

    /// <summary>Rounds that include the memory measurement (the first ones): each moves 1 GiB to two nodes and 4 GiB to Dask's workers.</summary>
    public int MemoryRounds { get; init; } = 3;

    public bool SkipMemory { get; init; }

    public bool OnlyMemory { get; init; }

    /// <summary>Variables set in the environment of every node this runner starts (and so of their workers), on top of its own.</summary>
    public IReadOnlyDictionary<string, string> NodeEnvironment { get; init; } = new Dictionary<string, string>();

    public required RunnerArguments Common { get; init; }

    public static ClusterSettings? Parse(string[] args)
    {
        var command = new RunnerCommand(ClusterRunner.Command, "cluster_peer.py", "ClusterPool over 2 local nodes x 1 worker against Dask distributed (LocalCluster of 2 single-threaded workers).");
        var memBytes = new Option<long?>("--mem-bytes") { Description = "The shared array of the memory measurement (default 1 GiB).", HelpName = "B" };
        var memRounds = new Option<int?>("--mem-rounds") { Description = "Rounds that include the memory measurement (default 3).", HelpName = "N" };
        var skipMemory = new Option<bool>("--skip-memory") { Description = "Leave out the shared-array memory measurement." };
        var onlyMemory = new Option<bool>("--only-memory") { Description = "Only the shared-array memory measurement." };
        var nodeEnv = new Option<string[]>("--node-env") { Description = "NAME=VALUE set in the environment of the nodes this runner starts, such as DOTNET_TieredCompilation=0 (repeatable).", HelpName = "NAME=VALUE" };
        nodeEnv.Validators.Add(r => { foreach (string v in r.GetValueOrDefault<string[]>() ?? []) { if (v.IndexOf('=', StringComparison.Ordinal) < 1) { r.AddError($"--node-env: '{v}' is not NAME=VALUE."); } } });
        memBytes.Validators.Add(r => { if (r.GetValueOrDefault<long?>() is { } b && (b < 1 << 20 || b % 8 != 0)) { r.AddError("--mem-bytes: give at least 1 MiB (1048576), a multiple of 8."); } });
        memRounds.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 0) { r.AddError("--mem-rounds: give 0 or more."); } });
        foreach (Option option in new Option[] { memBytes, memRounds, skipMemory, onlyMemory, nodeEnv })
        {
            command.Options.Add(option);
        }
        if (command.ParseCommon(args, "cluster.md", quickWritesPage: false, out ParseResult parsed) is not { } common)
        {
            return null;
        }
        var settings = new ClusterSettings { Common = common };
        if (common.Quick)
        {
            settings = settings with { Rounds = 2, DaskItemsPerTask = 2_000, DaskBatchedItems = 50_000, Submits = 500, DaskSubmits = 300, MemoryBytes = 256L << 20, MemoryRounds = 1 };
        }
        settings = settings with
        {
            MemoryBytes = parsed.GetValue(memBytes) ?? settings.MemoryBytes,
            MemoryRounds = parsed.GetValue(memRounds) ?? settings.MemoryRounds,
            SkipMemory = parsed.GetValue(skipMemory),
            OnlyMemory = parsed.GetValue(onlyMemory),
            NodeEnvironment = (parsed.GetValue(nodeEnv) ?? []).Select(v => v.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]),
        };
        return common.Rounds is int rounds ? settings with { Rounds = rounds } : settings;
    }
}

/// <summary>
/// <c>cluster</c>: ClusterPool over two local nodes of one worker each (this program started twice
/// as a node, on loopback) beside Dask distributed's LocalCluster of two single-threaded workers
/// (bench/python/cluster_peer.py), interleaved round by round, the order reversed every other round.
/// Each round of ours starts its own two nodes and kills them by pid at the end; each Dask run is a
/// fresh interpreter with its own LocalCluster. Writes docs/benchmarks/cluster.md.
/// </summary>
internal static class ClusterRunner
{
    public const string Command = RunnerModes.Cluster;

    private const string KeepMarker = "<!-- End of the generated report. What follows is written by hand and kept when the report is regenerated. -->";

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.FirstOrDefault() == ClusterNodeEntry.Command)
        {
            return await ClusterNodeEntry.RunAsync(args[1..]).ConfigureAwait(false);
        }
        if (args.FirstOrDefault() == WorkerTiering.Command)
        {
            return await WorkerTiering.RunAsync(args[1..]).ConfigureAwait(false);
        }
        if (ClusterSettings.Parse(args) is not { } settings)
        {
            Console.Error.WriteLine($"or:    {Command} {ClusterNodeEntry.Command} NAME SILO_PORT GATEWAY_PORT WORKERS CLUSTER_ID [PRIMARY_SILO_PORT]");
            Console.Error.WriteLine($"or:    {Command} {WorkerTiering.Command} [--pairs N] [--tasks N]");
            return 2;
        }
        var total = Stopwatch.StartNew();
        string loadStart = Load();
        bool havePython = settings.Common.HasPython(Log, "Dask columns will be n/a");
        var values = new Dictionary<string, List<double>>();
        void Add(string key, double value) => (values.TryGetValue(key, out List<double>? list) ? list : values[key] = []).Add(value);
        var notes = new List<string>();
        string peer = "Dask distributed";
        int oursRuns = 0, oursCorrect = 0;
        int workers = 2 * settings.WorkersPerNode;

        var measurements = new List<(string Name, Func<int, Task> Run)>();
        var memoryRounds = new List<MemoryRound>();
        if (!settings.OnlyMemory)
        {
            measurements.Add(("ours (2 nodes: map, submit, node kill)", async round =>
            {
                OursRound r = await ClusterSession.RunAsync(settings, round, Log).ConfigureAwait(false);
                Add("ours.map", r.MapItemsPerSecond);
                Add("ours.p50", r.SubmitP50Us);
                Add("ours.p99", r.SubmitP99Us);
                Add("ours.clean", r.CleanSeconds);
                Add("ours.kill", r.KillSeconds);
                Add("ours.killcost", r.KillSeconds - r.CleanSeconds);
                oursRuns++;
                oursCorrect += r.KillResultsCorrect ? 1 : 0;
                Log(string.Create(CultureInfo.InvariantCulture, $"   ours: map {r.MapItemsPerSecond:N0} items/s, submit p50 {r.SubmitP50Us:0} µs p99 {r.SubmitP99Us:0} µs, naps {r.CleanSeconds:0.00} s, with kill {r.KillSeconds:0.00} s, correct {r.KillResultsCorrect}"));
            }));
        }
        if (havePython && !settings.OnlyMemory)
        {
            measurements.Add(("Dask map, one task per item", async _ =>
            {
                JsonElement j = await PeerAsync(settings, "map", "--n", Invariant(settings.DaskItemsPerTask), "--batch", "0", "--workers", Invariant(workers)).ConfigureAwait(false);
                peer = j.GetProperty("peer").GetString() ?? peer;
                Add("dask.item", j.GetProperty("items_per_s").GetDouble());
            }));
            measurements.Add(($"Dask map, batches of {settings.DaskBatch:N0}", async _ =>
            {
                JsonElement j = await PeerAsync(settings, "map", "--n", Invariant(settings.DaskBatchedItems), "--batch", Invariant(settings.DaskBatch), "--workers", Invariant(workers)).ConfigureAwait(false);
                Add("dask.batch", j.GetProperty("items_per_s").GetDouble());
            }));
            measurements.Add(("Dask submit", async _ =>
            {
                JsonElement j = await PeerAsync(settings, "submit", "--n", Invariant(settings.DaskSubmits), "--workers", Invariant(workers)).ConfigureAwait(false);
                Add("dask.p50", j.GetProperty("p50_us").GetDouble());
                Add("dask.p99", j.GetProperty("p99_us").GetDouble());
            }));
            measurements.Add(("Dask worker kill", async _ =>
            {
                JsonElement j = await PeerAsync(settings, "kill", "--n", Invariant(settings.KillItems), "--sleep-ms", Invariant(ClusterSession.NapMilliseconds),
                    "--kill-after", settings.KillAfter.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture), "--workers", Invariant(workers)).ConfigureAwait(false);
                double clean = j.GetProperty("seconds_clean").GetDouble(), killed = j.GetProperty("seconds_with_kill").GetDouble();
                Add("dask.clean", clean);
                Add("dask.kill", killed);
                Add("dask.killcost", killed - clean);
            }));
        }

        if (!settings.SkipMemory)
        {
            string size = MiB(settings.MemoryBytes);
            measurements.Add(($"ours, one {size} shared array on 2 nodes × {ClusterMemory.WorkersPerNode} workers", async round =>
            {
                if (round >= settings.MemoryRounds)
                {
                    Log("   (not this round)");
                    return;
                }
                MemoryRound m = await ClusterMemory.RunAsync(settings.MemoryBytes, round, settings.NodeEnvironment, Log).ConfigureAwait(false);
                memoryRounds.Add(m);
                Add("ours.copy", m.CopyMBPerSecondPerNode);
                Add("ours.copycpu", m.CopyMBPerCpuSecond);
                Add("ours.pss", m.PssTotal);
                Add("ours.pssnodes", m.PssNodes + m.PssWorkers);
                Add("ours.idle", m.IdleWorkerPss);
                Add("ours.idlenodes", m.IdleNodesPss);
                Log(string.Create(CultureInfo.InvariantCulture,
                    $"   ours: copy {m.CopySeconds:0.00} s ({m.CopyMBPerSecondPerNode:0} MB/s per node), read map {m.ReadSeconds:0.00} s by {m.WorkersRead} of {m.Workers} workers, PSS client {MiB(m.PssClient)} nodes {MiB(m.PssNodes)} workers {MiB(m.PssWorkers)}, idle worker {MiB(m.IdleWorkerPss)}, nodes before the array {MiB(m.IdleNodesPss)}"));
            }));
            if (havePython)
            {
                measurements.Add(($"Dask scatter(broadcast=True) of {size} to {2 * ClusterMemory.WorkersPerNode} workers", async round =>
                {
                    if (round >= settings.MemoryRounds)
                    {
                        Log("   (not this round)");
                        return;
                    }
                    JsonElement j = await PeerAsync(settings, "memory", "--bytes", settings.MemoryBytes.ToString(CultureInfo.InvariantCulture), "--workers", Invariant(2 * ClusterMemory.WorkersPerNode)).ConfigureAwait(false);
                    peer = j.GetProperty("peer").GetString() ?? peer;
                    Add("dask.pss", j.GetProperty("pss_total").GetDouble());
                    Add("dask.pssnodes", j.GetProperty("pss_workers").GetDouble() + j.GetProperty("pss_nannies").GetDouble());
                    Add("dask.idle", j.GetProperty("idle_worker_pss").GetDouble());
                    Add("dask.copy", settings.MemoryBytes / 1e6 / j.GetProperty("scatter_seconds").GetDouble());
                    Log(string.Create(CultureInfo.InvariantCulture,
                        $"   Dask: scatter {j.GetProperty("scatter_seconds").GetDouble():0.00} s, PSS total {MiB((long)j.GetProperty("pss_total").GetDouble())}, workers {MiB((long)j.GetProperty("pss_workers").GetDouble())}, idle worker {MiB((long)j.GetProperty("idle_worker_pss").GetDouble())}"));
                }));
            }
        }

        for (int round = 0; round < settings.Rounds; round++)
        {
            IEnumerable<(string Name, Func<int, Task> Run)> order = round % 2 == 0 ? measurements : Enumerable.Reverse(measurements);
            foreach ((string name, Func<int, Task> run) in order)
            {
                Log($"round {round + 1}/{settings.Rounds}: {name}");
                try
                {
                    await run(round).ConfigureAwait(false);
                }
                catch (Exception e) when (e is InvalidOperationException or TimeoutException or JsonException or KeyNotFoundException or IOException or WorkerException or Multiprocessing.Cluster.NodeUnavailableException)
                {
                    string note = $"Round {round + 1}, {name}: failed: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}";
                    Log(note);
                    notes.Add(note);
                }
            }
        }
        string loadEnd = Load();
        string source = await settings.Common.DescribeSourceAsync("src").ConfigureAwait(false);
        var rows = new List<ResultRow>();
        string report = Report(settings, values, rows, peer, loadStart, loadEnd, total.Elapsed, source, oursRuns, oursCorrect, memoryRounds, notes);
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
        await settings.Common.WriteJsonAsync(new RunnerResults { Mode = Command, Rows = rows, Notes = notes }).ConfigureAwait(false);
        return 0;
    }

    private static string Report(ClusterSettings s, Dictionary<string, List<double>> values, List<ResultRow> rows, string peer, string loadStart, string loadEnd,
        TimeSpan elapsed, string source, int oursRuns, int oursCorrect, List<MemoryRound> memoryRounds, List<string> notes)
    {
        Summary? Get(string key) => values.TryGetValue(key, out List<double>? v) ? Summary.Of(v) : null;
        // Per-round ratios: the measurements of one round ran minutes apart at most, so their ratio is the fairer spread.
        string RatioRange(string ours, string other, bool inverse = false)
        {
            if (!values.TryGetValue(ours, out List<double>? o) || !values.TryGetValue(other, out List<double>? p) || o.Count != p.Count || o.Count < 2)
            {
                return "";
            }
            double[] r = [.. o.Zip(p, (a, b) => inverse ? b / a : a / b).Order()];
            return $" [{Times(r[0])}–{Times(r[^1])}]";
        }
        double? Ratio(string ours, string other, bool inverse = false) =>
            Get(ours) is { } o && Get(other) is { } p && o.Median > 0 && p.Median > 0 ? (inverse ? p.Median / o.Median : o.Median / p.Median) : null;
        string RatioText(string ours, string other, bool inverse = false) =>
            Ratio(ours, other, inverse) is double r ? Times(r) + RatioRange(ours, other, inverse) : "n/a";

        string opts = s.Common.Arguments.Length > 0 ? " " + s.Common.Arguments : "";
        var text = new StringBuilder();
        text.AppendLine("# Cluster benchmarks: ClusterPool beside Dask distributed");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Generated by `dotnet run -c Release --project bench/Multiprocessing.Benchmarks -- {Command}{opts}` on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, " +
            $"{Environment.ProcessorCount} cores, load average `{loadStart}` at the start and `{loadEnd}` at the end, {s.Rounds} rounds " +
            $"(every measurement once per round, the order reversed every other round), {elapsed.TotalMinutes:0.0} min in all; {source}.");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Ours: two nodes of {s.WorkersPerNode} worker each, this runner started twice as `{Command} node …` (an Orleans silo on 127.0.0.1 with localhost clustering, " +
            $"`AddProcessPoolNode`), and a `ClusterPool` connected to both; every round starts its own two nodes and kills them and their workers by pid at its end. " +
            $"Dask: {peer} (`{s.Common.Python} bench/python/cluster_peer.py`), a `LocalCluster` of {2 * s.WorkersPerNode} single-threaded worker processes on 127.0.0.1, " +
            $"a fresh interpreter and cluster per run. Both sides map `x * 2` over ints.");
        text.AppendLine();
        text.AppendLine("Cells: median of the per-round figures [min–max across rounds]; ratios: of the medians [min–max of the per-round ratios].");
        text.AppendLine();
        text.AppendLine("## Tiny-task map and submit round trip");
        text.AppendLine();
        text.AppendLine("| | ours | Dask | ours ÷ Dask | target (issue 13) | met |");
        text.AppendLine("| --- | --- | --- | --- | --- | --- |");

        string ours = Cell(Get("ours.map"), "N0");
        string itemMet = Ratio("ours.map", "dask.item") is double ri ? (ri >= 100 ? "yes" : "no") : "n/a";
        string batchMet = Ratio("ours.map", "dask.batch") is double rb ? (rb >= 10 ? "yes" : "no") : "n/a";
        string submitMet = Get("ours.p50") is { } p50 ? (p50.Median <= 1000 ? "yes" : "no") : "n/a";
        string submitRounds = Get("ours.p50") is not null ? $" ({Count(values, "ours.p50", v => v <= 1000)} of {values["ours.p50"].Count} rounds)" : "";
        text.AppendLine(CultureInfo.InvariantCulture,
            $"| map, items/s (ours: {s.MapItems:N0} items, automatic chunks; Dask: `client.map` of {s.DaskItemsPerTask:N0} items, one task per item) | {ours} | {Cell(Get("dask.item"), "N0")} | {RatioText("ours.map", "dask.item")} | ≥ 100× | {itemMet} |");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"| map, items/s (Dask: {s.DaskBatchedItems:N0} items in lists of {s.DaskBatch:N0}, one task per list) | {ours} | {Cell(Get("dask.batch"), "N0")} | {RatioText("ours.map", "dask.batch")} | ≥ 10× | {batchMet} |");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"| submit round trip p50, µs (ours {s.Submits:N0}, Dask {s.DaskSubmits:N0} sequential submits per run) | {Cell(Get("ours.p50"), "0")} | {Cell(Get("dask.p50"), "0")} | Dask ÷ ours {RatioText("ours.p50", "dask.p50", inverse: true)} | ours ≤ 1 ms | {submitMet}{submitRounds} |");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"| submit round trip p99, µs | {Cell(Get("ours.p99"), "0")} | {Cell(Get("dask.p99"), "0")} | Dask ÷ ours {RatioText("ours.p99", "dask.p99", inverse: true)} | | |");
        rows.Add(new ResultRow("map/item", "Tiny-task map over 2 nodes × 1 worker (items/s)", ours, "Dask `client.map`, one task per item", Cell(Get("dask.item"), "N0"),
            RatioText("ours.map", "dask.item"), Ratio("ours.map", "dask.item"), "≥ 100×", itemMet));
        rows.Add(new ResultRow("map/batch", "The same (items/s)", ours, $"Dask, batches of {s.DaskBatch:N0} items per task", Cell(Get("dask.batch"), "N0"),
            RatioText("ours.map", "dask.batch"), Ratio("ours.map", "dask.batch"), "≥ 10×", batchMet));
        rows.Add(new ResultRow("submit", "Submit round trip p50 (µs)", Cell(Get("ours.p50"), "0"), "Dask `client.submit(...).result()` p50", Cell(Get("dask.p50"), "0"),
            RatioText("ours.p50", "dask.p50"), Ratio("ours.p50", "dask.p50"), "ours ≤ 1 ms", submitMet));
        rows.Add(new ResultRow("submit p99", "Submit round trip p99 (µs)", Cell(Get("ours.p99"), "0"), "Dask p99", Cell(Get("dask.p99"), "0"),
            RatioText("ours.p99", "dask.p99"), Ratio("ours.p99", "dask.p99"), "", ""));

        text.AppendLine();
        text.AppendLine("## A node SIGKILLed mid-map");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"A map of {s.KillItems:N0} tasks that each sleep {ClusterSession.NapMilliseconds} ms and return `x * 2` (ours: `ChunkSize = 1`, one task per chunk as Dask's one task per item), " +
            $"once without failure and once with a SIGKILL {s.KillAfter.TotalSeconds:0.0#} s after the map starts: ours kills the second node's process (its worker is killed by pid after the map), " +
            $"Dask's peer kills one worker process (its nanny restarts it). Every result is checked on both sides (the peer asserts). " +
            $"The two failures differ after the kill: nothing restarts our node, so the rest of the map runs on the one node left (half the workers), " +
            $"while Dask's nanny brings its worker back within about a second; most of our cost of the failure is that lost capacity, not recovery.");
        text.AppendLine();
        text.AppendLine("| | ours | Dask | ours ÷ Dask |");
        text.AppendLine("| --- | --- | --- | --- |");
        text.AppendLine($"| map without failure, s | {Cell(Get("ours.clean"), "0.00")} | {Cell(Get("dask.clean"), "0.00")} | {RatioText("ours.clean", "dask.clean")} |");
        text.AppendLine($"| map with one node/worker SIGKILLed, s | {Cell(Get("ours.kill"), "0.00")} | {Cell(Get("dask.kill"), "0.00")} | {RatioText("ours.kill", "dask.kill")} |");
        text.AppendLine($"| cost of the failure (with kill − without, per round), s | {Cell(Get("ours.killcost"), "0.00")} | {Cell(Get("dask.killcost"), "0.00")} | |");
        string correct = oursRuns > 0 ? $"{oursCorrect} of {oursRuns} runs" : "n/a";
        // mp bench counts a row as met only by a bare "yes"; the counts are in the page.
        string correctMet = oursRuns == 0 ? "n/a" : oursCorrect == oursRuns ? "yes" : "no";
        text.AppendLine($"| map completed with every result correct | {correct} | {(values.TryGetValue("dask.kill", out List<double>? dk) ? $"{dk.Count} of {dk.Count} runs" : "n/a")} | |");
        rows.Add(new ResultRow("kill", $"Map of {s.KillItems} × {ClusterSession.NapMilliseconds} ms tasks, a node SIGKILLed at {s.KillAfter.TotalSeconds:0.0#} s: time to finish (s)",
            Cell(Get("ours.kill"), "0.00"), "Dask, one worker SIGKILLed", Cell(Get("dask.kill"), "0.00"), RatioText("ours.kill", "dask.kill"), Ratio("ours.kill", "dask.kill"),
            "completes, every result correct", correctMet));
        rows.Add(new ResultRow("kill/clean", "The same map without failure (s)", Cell(Get("ours.clean"), "0.00"), "Dask without failure", Cell(Get("dask.clean"), "0.00"),
            RatioText("ours.clean", "dask.clean"), Ratio("ours.clean", "dask.clean"), "", ""));

        if (!s.SkipMemory)
        {
            MemorySection(s, values, rows, peer, memoryRounds, text, RatioText);
        }

        text.AppendLine();
        text.AppendLine("## Notes");
        text.AppendLine();
        foreach (string note in notes)
        {
            text.AppendLine("* " + note);
        }
        return text.ToString();
    }

    private static void MemorySection(ClusterSettings s, Dictionary<string, List<double>> values, List<ResultRow> rows, string peer, List<MemoryRound> runs,
        StringBuilder text, Func<string, string, bool, string> ratioText)
    {
        const double Mi = 1024.0 * 1024.0;
        Summary? Get(string key, double scale = 1) => values.TryGetValue(key, out List<double>? v) ? Summary.Of([.. v.Select(x => x / scale)]) : null;
        string size = MiB(s.MemoryBytes);
        int workers = 2 * ClusterMemory.WorkersPerNode;
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"## One {size} shared array on 2 nodes × {ClusterMemory.WorkersPerNode} workers");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Ours: two nodes of {ClusterMemory.WorkersPerNode} workers started for this measurement alone (as above); the client creates a `SharedArray<byte>` of {size} and fills it, " +
            $"then runs a map of {4 * ClusterMemory.WorkersPerNode * 4} tasks that only name its read-only view (each node receives its copy during this map: the copy time, both nodes at once, " +
            $"the client's checksum included), then a map of {4 * ClusterMemory.WorkersPerNode * 2} tasks that each read every byte (a sum of 8-byte words, checked). " +
            $"PSS from `/proc/PID/smaps_rollup` right after: this client process (which holds the array it made, and the runner's own heap), the two node processes (each holding its copy) " +
            $"and their {workers} workers (mapping it). Dask: {peer}, a `LocalCluster` of {workers} single-threaded workers, a numpy array of {size} scattered with `broadcast=True` " +
            $"(one copy in each worker) and deleted in the client, then one task per worker reading all of it; PSS of the client process (which runs the scheduler), the {workers} nannies and the {workers} workers. " +
            $"Idle worker: median PSS of a warm worker before the array exists, in the same run. Rounds with this measurement: {Math.Min(s.MemoryRounds, s.Rounds)} (of {s.Rounds}).");
        text.AppendLine();
        text.AppendLine("| | ours | Dask | ours ÷ Dask | target (issue 13) | met |");
        text.AppendLine("| --- | --- | --- | --- | --- | --- |");
        Summary? idle = Get("ours.idle", Mi);
        double? limit = idle is { } i ? (2 * s.MemoryBytes / Mi + workers * i.Median) * 1.05 : null;
        string target = limit is double l ? string.Create(CultureInfo.InvariantCulture, $"≤ 2 × {size} + {workers} × idle worker + 5 % (= {l:N0} MiB)") : "≤ 2 × the array + 4 × idle worker + 5 %";
        string Met(string key) => Get(key, Mi) is { } v && limit is double l ? (v.Median <= l ? "yes" : "no") : "n/a";
        string totalMet = Met("ours.pss"), nodesMet = Met("ours.pssnodes");
        text.AppendLine($"| total PSS, MiB (ours: client + nodes + workers; Dask: client with scheduler + nannies + workers) | {Cell(Get("ours.pss", Mi), "N0")} | {Cell(Get("dask.pss", Mi), "N0")} | {ratioText("ours.pss", "dask.pss", false)} | {target} | {totalMet} |");
        text.AppendLine($"| PSS of the nodes and their workers, MiB (ours without the client, which keeps the {size} it made; Dask: nannies + workers) | {Cell(Get("ours.pssnodes", Mi), "N0")} | {Cell(Get("dask.pssnodes", Mi), "N0")} | {ratioText("ours.pssnodes", "dask.pssnodes", false)} | the same | {nodesMet} |");
        text.AppendLine($"| idle worker PSS, MiB | {Cell(idle, "N0")} | {Cell(Get("dask.idle", Mi), "N0")} | | | |");
        // What the target leaves for the two node processes once the copies and the workers' idle size are counted.
        string room = limit is double r && idle is { } w ? string.Create(CultureInfo.InvariantCulture, $"the target leaves {r - 2 * s.MemoryBytes / Mi - workers * w.Median:N0} MiB for both") : "";
        text.AppendLine($"| PSS of the two node processes before the array exists (after the warm-up map, when the idle worker is read), MiB | {Cell(Get("ours.idlenodes", Mi), "N0")} | | | {room} | |");
        text.AppendLine($"| copy to each node, MB/s (ours: {size} to each of 2 nodes at once; Dask: `scatter` to {workers} workers at once, per worker) | {Cell(Get("ours.copy"), "N0")} | {Cell(Get("dask.copy"), "N0")} | {ratioText("ours.copy", "dask.copy", false)} | | |");
        text.AppendLine($"| copy, MB delivered per CPU second of the client and both node processes (both nodes' bytes; what the copy costs whatever else the machine runs) | {Cell(Get("ours.copycpu"), "N0")} | | | | |");
        string read = runs.Count > 0 ? string.Join(", ", runs.Select(r => $"{r.WorkersRead} of {r.Workers}")) : "n/a";
        text.AppendLine($"| workers that read the whole array, per run | {read} | {workers} of {workers} (one task pinned to each) | | | |");
        rows.Add(new ResultRow("memory", $"2 nodes × {ClusterMemory.WorkersPerNode} workers reading one {size} array: total PSS, client + nodes + workers (MiB)", Cell(Get("ours.pss", Mi), "N0"),
            "Dask `scatter(broadcast=True)`, client + nannies + workers", Cell(Get("dask.pss", Mi), "N0"), ratioText("ours.pss", "dask.pss", false), null, target, totalMet));
        rows.Add(new ResultRow("memory/nodes", "The same, nodes and their workers only (MiB)", Cell(Get("ours.pssnodes", Mi), "N0"),
            "Dask nannies + workers", Cell(Get("dask.pssnodes", Mi), "N0"), ratioText("ours.pssnodes", "dask.pssnodes", false), null, target, nodesMet));
        rows.Add(new ResultRow("memory/copy", "Copy of the array to each node (MB/s per node)", Cell(Get("ours.copy"), "N0"),
            "Dask scatter, per worker", Cell(Get("dask.copy"), "N0"), ratioText("ours.copy", "dask.copy", false), null, "", ""));
    }

    private static int Count(Dictionary<string, List<double>> values, string key, Func<double, bool> test) => values[key].Count(test);

    private static string Cell(Summary? s, string format) => s is { } v
        ? $"{v.Median.ToString(format, CultureInfo.InvariantCulture)} [{v.Min.ToString(format, CultureInfo.InvariantCulture)}–{v.Max.ToString(format, CultureInfo.InvariantCulture)}]"
        : "n/a";

    private static string Times(double ratio) => ratio.ToString(ratio >= 100 ? "N0" : ratio >= 10 ? "0.0" : "0.00", CultureInfo.InvariantCulture) + "×";

    private static async Task<JsonElement> PeerAsync(ClusterSettings settings, params string[] arguments)
    {
        ChildOutput output = await ChildProcess.RunCheckedAsync(settings.Common.Python, [settings.Common.PeerScript, .. arguments], TimeSpan.FromMinutes(15)).ConfigureAwait(false);
        using var json = JsonDocument.Parse(output.FirstLine);
        return json.RootElement.Clone();
    }

    private static string MiB(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024.0):N0} MiB");

    private static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static void Log(string message) => Console.Error.WriteLine($"[cluster] {message}");
}
