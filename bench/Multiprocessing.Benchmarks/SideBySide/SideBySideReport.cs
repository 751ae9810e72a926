using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Multiprocessing.Interop;

namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>The markdown report: machine, command, the comparison table and every round's figures.</summary>
internal static class SideBySideReport
{
    private const double BudgetIdleMiB = 15;

    public static string Build(SideBySideSettings settings, SideBySideResults r, PythonPeer? python, PipeFloor? floor, TimeSpan elapsed, string source, List<Results.ResultRow> rows)
    {
        var md = new StringBuilder();
        void Row(StringBuilder md, string id, string what, List<double> ours, string peerName, List<double> peer, Func<double, string> format,
            string target, Func<double, bool>? ratioMeets, Func<double, bool>? oursMeets = null, bool paired = true) =>
            rows.Add(SideBySideReport.Row(md, id, what, ours, peerName, peer, format, target, ratioMeets, oursMeets, paired));
        string pythonName = python is null ? "CPython (not run)" : $"CPython {python.Version ?? "?"}";
        md.AppendLine("# Process pool: Multiprocessing for .NET beside CPython multiprocessing and the C floor");
        md.AppendLine();
        md.AppendLine(Inv($"* Date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC"));
        md.AppendLine(Inv($"* Machine: nproc {Environment.ProcessorCount}, CPU {CpuModel()}, kernel {Kernel()}, {MemTotal()}"));
        md.AppendLine(Inv($"* Runtimes: {RuntimeInformation.FrameworkDescription}; {pythonName} ({python?.Python ?? "-"}), stdlib multiprocessing.Pool; C floor {floor?.Program ?? "(not run)"}"));
        md.AppendLine(Inv($"* Library source: {source}"));
        md.AppendLine(Inv($"* Command: `dotnet run -c Release --project bench/Multiprocessing.Benchmarks -- sidebyside{(settings.Common.Arguments.Length > 0 ? " " + settings.Common.Arguments : "")}` (total {elapsed.TotalSeconds:0} s)"));
        md.AppendLine(Inv($"* Method: {Workers} workers on both sides. Each measurement alternates our run and the peers' runs round by round (ours first in odd rounds, the peers first in even ones), {settings.Rounds} rounds for (a), (a'), (b); {settings.StartRounds} for (c); {settings.IdleRounds} pools of 2 workers for (d). Figures are the median [min – max] over rounds; a ratio is ours ÷ peer of the medians, with the range of the per-round ratios in brackets."));
        md.AppendLine("* Our (a), (a') and (b) run on one warm pool (started, method registered, warmed with one map and 1,000 submits); CPython's run on a fresh `Pool(2)` per round, warmed with a small map or 1,000 `apply_async` calls before the clock starts.");
        md.AppendLine();
        md.AppendLine("| | Measure | Ours | Peer | Peer figure | Ours ÷ peer | Target | Met |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");

        string mapWhat = Inv($"MapAsync of `x * 2` over {settings.MapItems:N0} ints, automatic chunks (items/s)");
        Row(md, "(a)", mapWhat, r.MapOurs, "CPython `Pool.map`, fork, default chunksize", r.MapFork, Rate, "≥ 2× CPython", ratio => ratio >= 2);
        Row(md, "(a)", mapWhat, r.MapOurs, "CPython `Pool.map`, spawn, default chunksize", r.MapSpawn, Rate, "", null);
        string singleWhat = Inv($"MapAsync, ChunkSize = 1, over {settings.SingleItems:N0} ints (tasks/s)");
        Row(md, "(a')", singleWhat, r.SingleOurs, "CPython `Pool.map(chunksize=1)`, fork", r.SingleFork, Rate, "≥ 10× CPython", ratio => ratio >= 10);
        if (r.SingleSpawn.Count > 0)
        {
            Row(md, "(a')", singleWhat, r.SingleOurs, "CPython `Pool.map(chunksize=1)`, spawn", r.SingleSpawn, Rate, "", null);
        }
        string tripWhat = Inv($"SubmitAsync round trip, warm pool, {settings.RoundTrips:N0} sequential awaits");
        Row(md, "(b)", tripWhat + ", p50 (µs)", r.RoundTripOursP50, Inv($"C `pipe_pingpong {settings.FloorRoundTrips}` p50"), r.FloorP50, Micro, "p50 ≤ 2× pipe floor", ratio => ratio <= 2);
        Row(md, "(b)", tripWhat + ", p50 (µs)", r.RoundTripOursP50, Inv($"CPython `apply_async(f, (x,)).get()`, fork, {settings.RoundTrips:N0} calls, p50"), r.RoundTripPythonP50, Micro, "", null);
        Row(md, "(b)", tripWhat + ", p99 (µs)", r.RoundTripOursP99, "C pipe floor p99", r.FloorP99, Micro, "", null);
        Row(md, "(b)", tripWhat + ", p99 (µs)", r.RoundTripOursP99, "CPython `apply_async().get()` p99", r.RoundTripPythonP99, Micro, "", null);
        string startWhat = "`new ProcessPool(Workers = 2)` → first SubmitAsync result, fresh process (ms)";
        Row(md, "(c)", startWhat, r.StartOurs, "CPython `Pool(2)` → first `apply_async` result, spawn", r.StartSpawn, Milli, "≤ CPython spawn", ratio => ratio <= 1);
        Row(md, "(c)", startWhat, r.StartOurs, "the same, fork", r.StartFork, Milli, "", null);
        string wallWhat = "process launch → first result line, as the parent sees it (ms; includes runtime / interpreter start)";
        Row(md, "(c)", wallWhat, r.StartOursWall, "CPython, spawn", r.StartSpawnWall, Milli, "", null);
        Row(md, "(c)", wallWhat, r.StartOursWall, "CPython, fork", r.StartForkWall, Milli, "", null);
        string idleWhat = "idle worker PSS after `WaitForWorkersAsync` + 0.5 s (MiB, per worker)";
        Row(md, "(d)", idleWhat, Pss(r.IdleOurs), "CPython spawn worker, idle after its initializer + 0.5 s", Pss(r.IdleSpawn), MiB, Inv($"≤ {BudgetIdleMiB} MiB"),
            null, ours => ours <= BudgetIdleMiB, paired: false);
        Row(md, "(d)", "idle worker PSS if only the parent and the 2 workers shared the runtime: USS + (RSS − USS) / 3, an estimate (MiB)", QuietPss(r.IdleOurs, 3),
            "CPython spawn, USS + (RSS − USS) / 4 (parent, 2 workers, resource tracker)", QuietPss(r.IdleSpawn, 4), MiB, Inv($"≤ {BudgetIdleMiB} MiB"), null, ours => ours <= BudgetIdleMiB, paired: false);
        Row(md, "(d)", "idle worker USS (private) (MiB)", Uss(r.IdleOurs), "CPython spawn worker USS", Uss(r.IdleSpawn), MiB, "", null, paired: false);
        Row(md, "(d)", "idle worker RSS (MiB)", Rss(r.IdleOurs), "CPython spawn worker RSS", Rss(r.IdleSpawn), MiB, "", null, paired: false);
        Row(md, "(d)", "worker PSS after (a), (a') and (b) on the warm pool (MiB)", Pss(r.WorkedOurs), "CPython fork worker PSS, idle (shares the parent's pages)", Pss(r.IdleFork), MiB, "", null, paired: false);
        md.AppendLine();
        md.AppendLine(Inv($"PSS divides each shared page among the processes that map it, so it depends on what else runs: during (d), {Range(r.DotnetSharers)} processes mapped libcoreclr.so (this program, its 2 workers, the `dotnet run` host and any other .NET process on the machine) and {Range(r.PythonSharers)} mapped the CPython executable (parent, 2 workers, resource tracker, others). USS is what a worker costs on its own. A CPython fork worker shares its parent's interpreter pages, hence its small PSS. Load average (1, 5, 15 min) at start: {r.LoadAtStart}; at end: {r.LoadAtEnd}."));
        md.AppendLine();

        if (r.DisposeFailures.Count > 0)
        {
            md.AppendLine(Inv($"**Library problem seen:** `ProcessPool.DisposeAsync` threw in {r.DisposeFailures.Count} of the {r.Disposals} pool disposals of this run (the figures were taken before it). First occurrence:"));
            md.AppendLine();
            md.AppendLine("```");
            md.AppendLine(r.DisposeFailures[0]);
            md.AppendLine("```");
            md.AppendLine();
        }
        md.AppendLine("## Every round");
        md.AppendLine();
        md.AppendLine("| Series | Rounds |");
        md.AppendLine("|---|---|");
        Series(md, "(a) ours, items/s", r.MapOurs, Rate);
        Series(md, "(a) CPython fork, items/s", r.MapFork, Rate);
        Series(md, "(a) CPython spawn, items/s", r.MapSpawn, Rate);
        Series(md, "(a') ours, tasks/s", r.SingleOurs, Rate);
        Series(md, "(a') CPython fork, tasks/s", r.SingleFork, Rate);
        Series(md, "(a') CPython spawn, tasks/s", r.SingleSpawn, Rate);
        Series(md, "(b) ours p50 / p99, µs", Pairs(r.RoundTripOursP50, r.RoundTripOursP99), s => s);
        Series(md, "(b) C pipe floor p50 / p99, µs", Pairs(r.FloorP50, r.FloorP99), s => s);
        Series(md, "(b) CPython p50 / p99, µs", Pairs(r.RoundTripPythonP50, r.RoundTripPythonP99), s => s);
        Series(md, "(c) ours, ms (wall)", Pairs(r.StartOurs, r.StartOursWall), s => s);
        Series(md, "(c) CPython spawn, ms (wall)", Pairs(r.StartSpawn, r.StartSpawnWall), s => s);
        Series(md, "(c) CPython fork, ms (wall)", Pairs(r.StartFork, r.StartForkWall), s => s);
        Series(md, "(d) ours PSS / USS / RSS per worker, MiB", Memory(r.IdleOurs), s => s);
        Series(md, "(d) CPython spawn PSS / USS / RSS per worker, MiB", Memory(r.IdleSpawn), s => s);
        Series(md, "(d) CPython fork PSS / USS / RSS per worker, MiB", Memory(r.IdleFork), s => s);
        Series(md, "(d) ours after work PSS / USS / RSS, MiB", Memory(r.WorkedOurs), s => s);
        return md.ToString();
    }

    private const int Workers = 2;

    private static Results.ResultRow Row(StringBuilder md, string id, string what, List<double> ours, string peerName, List<double> peer, Func<double, string> format,
        string target, Func<double, bool>? ratioMeets, Func<double, bool>? oursMeets = null, bool paired = true)
    {
        Summary? o = Summary.Of(ours);
        Summary? p = Summary.Of(peer);
        string ratio = "n/a";
        double? ratioValue = null;
        if (o is { } os && p is { } ps && ps.Median != 0)
        {
            ratioValue = os.Median / ps.Median;
            ratio = Inv($"{ratioValue:0.00}×");
            if (paired && ours.Count == peer.Count && ours.Count > 1)
            {
                double[] perRound = [.. ours.Zip(peer, (a, b) => a / b)];
                ratio += Inv($" [{perRound.Min():0.00} – {perRound.Max():0.00}]");
            }
        }
        string met = "";
        if (ratioMeets is not null)
        {
            met = ratioValue is double v ? (ratioMeets(v) ? "yes" : "**no**") : "n/a";
        }
        else if (oursMeets is not null)
        {
            met = o is { } value ? (oursMeets(value.Median) ? "yes" : "**no**") : "n/a";
        }
        md.AppendLine(Inv($"| {id} | {what} | {Describe(o, format)} | {peerName} | {Describe(p, format)} | {ratio} | {target} | {met} |"));
        return new Results.ResultRow(id, what, Describe(o, format), peerName, Describe(p, format), ratio, ratioValue, target, met.Replace("**", "", StringComparison.Ordinal));
    }

    private static string Range(List<int> values) =>
        values.Count == 0 ? "n/a" : values.Min() == values.Max() ? Inv($"{values[0]}") : Inv($"{values.Min()}–{values.Max()}");

    private static string Describe(Summary? summary, Func<double, string> format) =>
        summary is { } s ? $"{format(s.Median)} [{format(s.Min)} – {format(s.Max)}]" : "n/a";

    private static void Series<T>(StringBuilder md, string name, IEnumerable<T> values, Func<T, string> format)
    {
        string joined = string.Join("; ", values.Select(format));
        if (joined.Length > 0)
        {
            md.AppendLine(Inv($"| {name} | {joined} |"));
        }
    }

    private static IEnumerable<string> Pairs(List<double> first, List<double> second) =>
        first.Zip(second, (a, b) => Inv($"{a:0.0} / {b:0.0}"));

    private static IEnumerable<string> Memory(List<RollupMemory> values) =>
        values.Select(m => Inv($"{m.Pss / RollupMemory.MiB:0.0} / {m.Uss / RollupMemory.MiB:0.0} / {m.Rss / RollupMemory.MiB:0.0}"));

    private static List<double> Pss(List<RollupMemory> values) => [.. values.Select(m => m.Pss / RollupMemory.MiB)];

    /// <summary>
    /// What PSS would be if every shared page were shared by exactly <paramref name="sharers"/> processes:
    /// an estimate for a quiet machine, where no other process maps the same runtime files.
    /// </summary>
    private static List<double> QuietPss(List<RollupMemory> values, int sharers) =>
        [.. values.Select(m => (m.Uss + (m.Rss - m.Uss) / (double)sharers) / RollupMemory.MiB)];

    private static List<double> Uss(List<RollupMemory> values) => [.. values.Select(m => m.Uss / RollupMemory.MiB)];

    private static List<double> Rss(List<RollupMemory> values) => [.. values.Select(m => m.Rss / RollupMemory.MiB)];

    private static string Rate(double perSecond) => perSecond switch
    {
        >= 1e6 => Inv($"{perSecond / 1e6:0.00} M"),
        >= 1e3 => Inv($"{perSecond / 1e3:0.0} k"),
        _ => Inv($"{perSecond:0}"),
    };

    private static string Micro(double us) => Inv($"{us:0.0}");

    private static string Milli(double ms) => Inv($"{ms:0.0}");

    private static string MiB(double mib) => Inv($"{mib:0.0}");

    private static string CpuModel() => ProcFs.ReadCpuInfo("model name") ?? "unknown";

    private static string Kernel() => ProcFs.ReadFirstLine("/proc/sys/kernel/osrelease")?.Trim() ?? RuntimeInformation.OSDescription;

    private static string MemTotal() =>
        ProcFs.ReadMemInfo().TryGetValue("MemTotal", out long bytes) ? Inv($"{bytes / 1024.0 / 1024.0 / 1024.0:0.0} GiB RAM") : "RAM unknown";

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
