using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Multiprocessing.Interop;

namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>The markdown report of <c>channels</c>: machine, command, one table per topology, the target check, wait statistics and every round.</summary>
internal static class ChannelReport
{
    /// <summary>Everything from this line on in docs/benchmarks/channels.md is kept when a new run rewrites the file.</summary>
    public const string KeepBelow = "<!-- Written by hand below this line; `channels` keeps it when it rewrites the figures above. -->";

    private const double Target = 30;
    private const double DesignQueueAnchor = 356_000;

    public static string Build(ChannelSettings settings, ChannelResults r, ChannelPythonPeer? python, RingFloor? floor, TimeSpan elapsed, string source)
    {
        var md = new StringBuilder();
        md.AppendLine("# Channels: SharedChannel and Pipe beside CPython multiprocessing and the C ring floor");
        md.AppendLine();
        md.AppendLine(Inv($"* Date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC"));
        md.AppendLine(Inv($"* Machine: nproc {Environment.ProcessorCount}, CPU {Machine.Cpu()}, kernel {Machine.Kernel()}; load average at start {r.LoadAtStart}, at end {r.LoadAtEnd}"));
        md.AppendLine(Inv($"* Load average (1 min) at the start of each round: {string.Join(", ", r.RoundLoads)}. The machine is shared with other work; read the min/max and the per-round figures, and compare only within a round."));
        md.AppendLine(Inv($"* Runtimes: {RuntimeInformation.FrameworkDescription}; CPython {python?.Version ?? "(not run)"} ({python?.Python ?? "-"}, start method {python?.StartMethod ?? "-"}); C floor {floor?.Program ?? "(not run)"}"));
        md.AppendLine(Inv($"* Library source: {source}"));
        md.AppendLine(Inv($"* Command: `dotnet run -c Release --project bench/Multiprocessing.Benchmarks -- channels{(settings.Common.Arguments.Length > 0 ? " " + settings.Common.Arguments : "")}` (total {elapsed.TotalSeconds:0} s)"));
        md.AppendLine(Inv($"* Sizes: {settings.SmallMessages:N0} small messages or {settings.LargeMessages:N0} messages of 64 KiB per run, split evenly over the producers, the same counts on both sides; the C floor moves {settings.FloorMessages:N0} 8-byte messages. {settings.Rounds} rounds; in each cell our runs and the peers' runs alternate, ours first in odd rounds and theirs first in even ones. Figures are median [min – max] over rounds; ratios are of medians, with the range of the per-round ratios in brackets."));
        md.AppendLine(Inv($"* Timing: from the first producer passing a start barrier (every producer and consumer process, started and warmed up, waits on it) to the last consumer seeing the channel completed (ours: the last producer to finish completes it; CPython: sentinels after every producer has flushed). Process start is outside the clock on both sides. Ours warm up on a second channel of the same type first, for at least {settings.WarmupMs} ms and until the JIT has compiled nothing for {JitWatch.QuietMs} ms in every producer and consumer process (at most {ChannelRuns.MaxWarmUpMs / 1000} s), so the timed part runs tier-1 code; CPython needs no warm-up. MB/s counts payload bytes (8, 100 or 65,536 per message; 1 MB = 10⁶ bytes)."));
        md.AppendLine("* The CPython record runs (a pickled dict) are measured once per round, in the first record cell, and stand beside all of our 100-byte records.");
        md.AppendLine();
        AppendPayloads(md, r);
        foreach (int pairs in settings.Topologies)
        {
            md.AppendLine(Inv($"## {pairs} producer{(pairs > 1 ? "s" : "")} → {pairs} consumer{(pairs > 1 ? "s" : "")}"));
            md.AppendLine();
            md.AppendLine(pairs == 1
                ? "One producer process and one consumer process. Pipes: one pipe."
                : Inv($"{pairs} producer processes and {pairs} consumer processes on one channel / queue, every process on 2 cores. Pipes cannot be shared that way (CPython's Pipe has one reader and one writer): the Pipe rows are {pairs} independent pipes, one producer and one consumer each."));
            md.AppendLine();
            md.AppendLine("| Payload | Implementation | msgs/s, median [min – max] | MB/s | ÷ CPython Queue | ÷ C floor (futex) |");
            md.AppendLine("|---|---|---|---|---|---|");
            foreach (string payload in settings.Payloads)
            {
                var cell = new ChannelCell(payload, pairs);
                IReadOnlyList<double> queue = r.Get(cell, "cpython queue");
                IReadOnlyList<double> floorFutex = r.Get(new ChannelCell(LongPayload.Name, 1), "floor futex");
                foreach (string impl in ChannelRunner.OurImplementations.Select(i => "ours " + i).Concat(ChannelRunner.PythonKinds.Select(k => "cpython " + k)).Concat(["cpython queue put loop", "floor spin", "floor futex"]))
                {
                    IReadOnlyList<double> values = r.Get(cell, impl);
                    if (values.Count == 0)
                    {
                        continue;
                    }
                    bool ours = impl.StartsWith("ours", StringComparison.Ordinal);
                    string vsQueue = impl == "cpython queue" ? "1×" : RatioText(values, queue);
                    string vsFloor = (ours || impl.StartsWith("floor", StringComparison.Ordinal)) && payload == LongPayload.Name && pairs == 1 ? RatioText(values, floorFutex) : "";
                    md.AppendLine(Inv($"| {PayloadLabel(payload, impl)} | {ImplLabel(impl)} | {RateText(values)} | {MegabytesText(values, payload)} | {vsQueue} | {vsFloor} |"));
                }
            }
            md.AppendLine();
        }
        AppendTarget(md, settings, r);
        AppendWaits(md, settings, r);
        md.AppendLine("## Every round (messages/s)");
        md.AppendLine();
        md.AppendLine("| Cell | Implementation | Rounds |");
        md.AppendLine("|---|---|---|");
        foreach (((ChannelCell cell, string impl), List<double> values) in r.Rates.OrderBy(e => e.Key.Cell.Pairs).ThenBy(e => Array.IndexOf(ChannelPayloads.All, e.Key.Cell.Payload)))
        {
            md.AppendLine(Inv($"| {cell.Payload}, {cell.Pairs}→{cell.Pairs} | {impl} | {string.Join(", ", values.Select(Rate))} |"));
        }
        md.AppendLine();
        return md.ToString();
    }

    private static void AppendPayloads(StringBuilder md, ChannelResults r)
    {
        md.AppendLine("## Payloads");
        md.AppendLine();
        md.AppendLine("| Payload | Ours: type, path, bytes in the slot | CPython: object, pickled bytes |");
        md.AppendLine("|---|---|---|");
        md.AppendLine(Inv($"| 8-byte int | `long`, copied byte for byte, {Wire(r, "long")} B | `int` (`i`), {PyWire(r, "int")} B |"));
        md.AppendLine(Inv($"| ~100-byte record | `Quote`, a `readonly record struct` of 12 eight-byte fields and an int (100 bytes, `Pack = 4`), copied byte for byte (no JSON), {Wire(r, "quote100")} B | a `dict` of 7 fields (id, symbol, price, qty, side, venue, ts), {PyWire(r, "record")} B |"));
        md.AppendLine(Inv($"| ~100-byte record | `Order`, a `sealed record` class of 7 fields (long, string, double, int, string, string, long), System.Text.Json (the library's path for classes), {Wire(r, "order-json")} B | the same `dict` |"));
        md.AppendLine(Inv($"| record (MemoryPack) | `PackedOrder`, the same 7 fields as `Order`, `[MemoryPackable]`, through `SharedChannelOptions.Serializer = new MemoryPackWorkerSerializer()`, {Wire(r, "order-memorypack")} B | the same `dict` |"));
        md.AppendLine(Inv($"| record (MemoryPack, UTF-16 strings) | the same `PackedOrder` through `new MemoryPackUtf16WorkerSerializer()`: its strings copied as UTF-16 instead of transcoded to UTF-8, {Wire(r, "order-memorypack-utf16")} B | the same `dict` |"));
        md.AppendLine(Inv($"| 64 KiB | `byte[65536]`, length + block copy, {Wire(r, "bytes64k")} B | `bytes` of 65,536, {PyWire(r, "bytes64k")} B |"));
        md.AppendLine();
        md.AppendLine("Our channels: capacity 4,096 messages with MaxMessageSize 8 / 128 / 256 bytes for the small payloads, 64 messages of up to 65,600 bytes for 64 KiB; pipes the same per direction. Producers call `TryWrite` and fall back to `await WriteAsync` when it returns false. Consumers: `await foreach (… in Reader.ReadAllAsync())` (readall) or `while (await WaitToReadAsync()) while (TryRead(out …))` (drain). CPython: `multiprocessing.Queue()` and `SimpleQueue()` unbounded, `Pipe(duplex=False)`, `put`/`get`, `send`/`recv`.");
        md.AppendLine();
    }

    private static void AppendTarget(StringBuilder md, ChannelSettings settings, ChannelResults r)
    {
        md.AppendLine(Inv($"## DESIGN target: SharedChannel small messages ≥ {Target:0}× CPython `multiprocessing.Queue`"));
        md.AppendLine();
        md.AppendLine("Like for like: messages the consumers received per second, same clock, same counts, same processes.");
        md.AppendLine();
        md.AppendLine("| Cell | Ours (best consumer style) | Ours msgs/s | CPython Queue msgs/s | Ratio [per-round range] | Met |");
        md.AppendLine("|---|---|---|---|---|---|");
        var others = new StringBuilder();
        foreach (int pairs in settings.Topologies)
        {
            foreach (string payload in settings.Payloads.Where(p => !ChannelPayloads.IsLarge(p)))
            {
                var cell = new ChannelCell(payload, pairs);
                IReadOnlyList<double> queue = r.Get(cell, "cpython queue");
                IReadOnlyList<double> putLoop = r.Get(cell, "cpython queue put loop");
                string? best = BestConsumer(r, cell);
                if (best is null || queue.Count == 0)
                {
                    continue;
                }
                IReadOnlyList<double> ours = r.Get(cell, best);
                double median = Summary.Of([.. ours])!.Value.Median;
                double queueMedian = Summary.Of([.. queue])!.Value.Median;
                string Met(double ratio) => double.IsNaN(ratio) ? "n/a" : ratio >= Target ? "yes" : "no";
                md.AppendLine(Inv($"| {payload}, {pairs}→{pairs} | {ImplLabel(best)} | {Rate(median)} | {Rate(queueMedian)} | {RatioText(ours, queue)} | {Met(median / queueMedian)} |"));
                double put = putLoop.Count > 0 ? median / Summary.Of([.. putLoop])!.Value.Median : double.NaN;
                others.AppendLine(Inv($"| {payload}, {pairs}→{pairs} | {Rate(median)} | {(putLoop.Count > 0 ? Rate(Summary.Of([.. putLoop])!.Value.Median) : "n/a")} | {RatioText(ours, putLoop)} | {Met(put)} | {Ratio(median / DesignQueueAnchor)} | {Met(median / DesignQueueAnchor)} |"));
            }
        }
        md.AppendLine();
        md.AppendLine("## Other readings of the target");
        md.AppendLine();
        md.AppendLine(Inv($"DESIGN gives CPython's Queue as \"about {DesignQueueAnchor:N0} msgs/s here\". CPython's `put()` loop alone (which only appends to a buffer that a feeder thread pickles and writes later) is a different reading of the same Queue: what its producers can hand over, not what its consumers receive (the table above). Ours against both:"));
        md.AppendLine();
        md.AppendLine("| Cell | Ours msgs/s | CPython `put()` loop msgs/s | Ours ÷ put loop [per-round] | ≥ 30× | Ours ÷ 356 k anchor | ≥ 30× |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        md.Append(others);
        md.AppendLine();
    }

    /// <summary>
    /// The comparisons <c>mp bench</c> shows: the DESIGN target's rows (the best consumer style
    /// against CPython's Queue, small payloads) and our 8-byte 1 → 1 rows against the C ring floor.
    /// </summary>
    public static Results.RunnerResults ToResults(ChannelSettings settings, ChannelResults r)
    {
        var rows = new List<Results.ResultRow>();
        string target = Inv($"≥ {Target:0}× CPython `multiprocessing.Queue`");
        foreach (int pairs in settings.Topologies)
        {
            foreach (string payload in settings.Payloads.Where(p => !ChannelPayloads.IsLarge(p)))
            {
                var cell = new ChannelCell(payload, pairs);
                IReadOnlyList<double> queue = r.Get(cell, "cpython queue");
                string? best = BestConsumer(r, cell);
                if (best is null || queue.Count == 0)
                {
                    continue;
                }
                double median = Summary.Of([.. r.Get(cell, best)])!.Value.Median;
                double ratio = median / Summary.Of([.. queue])!.Value.Median;
                string name = Inv($"{payload}, {pairs}→{pairs}");
                rows.Add(new Results.ResultRow(name, $"Small messages through a `SharedChannel`, {name} ({ImplLabel(best).Replace("**", "", StringComparison.Ordinal)}), msgs/s (median)",
                    Rate(median), "CPython `multiprocessing.Queue`", Rate(Summary.Of([.. queue])!.Value.Median), RatioText(r.Get(cell, best), queue), ratio, target,
                    double.IsNaN(ratio) ? "n/a" : ratio >= Target ? "yes" : "no"));
            }
        }
        List<Results.ResultRow> targetRows = [.. rows];
        if (settings.Payloads.Contains(LongPayload.Name) && settings.Topologies.Contains(1))
        {
            var cell = new ChannelCell(LongPayload.Name, 1);
            string heading = "1 producer → 1 consumer";
            IReadOnlyList<double> floor = r.Get(cell, "floor futex");
            foreach (string impl in ChannelRunner.OurImplementations.Select(i => "ours " + i).Where(i => r.Get(cell, i).Count > 0))
            {
                IReadOnlyList<double> values = r.Get(cell, impl);
                double? ratio = floor.Count > 0 ? Summary.Of([.. values])!.Value.Median / Summary.Of([.. floor])!.Value.Median : null;
                rows.Add(new Results.ResultRow(heading, $"{ImplLabel(impl).Replace("**", "", StringComparison.Ordinal)}, {PayloadLabel(LongPayload.Name, impl)} payload, {heading} (msgs/s)", RateText(values),
                    floor.Count > 0 ? $"{ImplLabel("floor futex")}, {PayloadLabel(LongPayload.Name, "floor futex")}" : "C shared-memory ring floor (futex)",
                    floor.Count > 0 ? RateText(floor) : "n/a",
                    ratio is double v ? v.ToString(v >= 0.1 ? "0.00" : "0.0000", CultureInfo.InvariantCulture) + "×" : "n/a", ratio, "", ""));
            }
        }
        Results.ResultChart? chart = targetRows.Count == 0 ? null : new Results.ResultChart(
            "SharedChannel small messages: ours ÷ CPython Queue (medians)", "payload, producers → consumers", "ours ÷ CPython Queue", [.. targetRows.Select(t => t.Id)],
            [new Results.ResultSeries("ours ÷ CPython Queue", [.. targetRows.Select(t => t.RatioValue ?? double.NaN)]), new Results.ResultSeries("DESIGN target", [.. targetRows.Select(_ => Target)], Dashed: true)],
            Line: false);
        return new Results.RunnerResults { Mode = ChannelRunner.Command, Rows = rows, Chart = chart };
    }

    /// <summary>The faster of our two SharedChannel consumer styles in <paramref name="cell"/> (by median), or null if neither ran.</summary>
    private static string? BestConsumer(ChannelResults r, ChannelCell cell) =>
        new[] { "ours channel-readall", "ours channel-drain" }
            .Where(i => r.Get(cell, i).Count > 0)
            .OrderByDescending(i => Summary.Of([.. r.Get(cell, i)])!.Value.Median)
            .FirstOrDefault();

    private static void AppendWaits(StringBuilder md, ChannelSettings settings, ChannelResults r)
    {
        md.AppendLine("## How often our sides waited (medians over rounds)");
        md.AppendLine();
        md.AppendLine("Producer fallbacks: `TryWrite` returned false (channel full) and the producer went to `WriteAsync`. Consumer waits (drain style): `WaitToReadAsync` calls that completed at once vs. returned a pending task (the reader spun, then parked on the futex waiter thread), and the mean time a pending one took.");
        md.AppendLine();
        md.AppendLine("| Cell | Implementation | run s | CPU ns per message: producers / consumers | gen-0 GCs: producers / consumers | producer fallbacks per 1k msgs | fallback time % of run | consumer waits per 1k msgs: at once / parked | mean parked wait µs |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (int pairs in settings.Topologies)
        {
            foreach (string payload in settings.Payloads)
            {
                var cell = new ChannelCell(payload, pairs);
                long messages = ChannelPayloads.IsLarge(payload) ? settings.LargeMessages : settings.SmallMessages;
                foreach (string impl in ChannelRunner.OurImplementations)
                {
                    if (!r.Runs.TryGetValue((cell, impl), out List<OurRun>? runs) || runs.Count == 0)
                    {
                        continue;
                    }
                    double Med(Func<OurRun, double> f) => Summary.Of([.. runs.Select(f)])!.Value.Median;
                    double seconds = Med(x => x.Seconds);
                    string consumer = impl.EndsWith("drain", StringComparison.Ordinal)
                        ? Inv($"{Med(x => x.SyncWaits * 1000.0 / messages):0.##} / {Med(x => x.AsyncWaits * 1000.0 / messages):0.##}")
                        : "n/a (readall)";
                    string parked = impl.EndsWith("drain", StringComparison.Ordinal) ? Inv($"{Med(x => x.AsyncWaits == 0 ? 0 : x.AsyncWaitMs * 1000 / x.AsyncWaits):0.#}") : "";
                    md.AppendLine(Inv($"| {payload}, {pairs}→{pairs} | {impl} | {seconds:0.###} | {Med(x => x.ProducerCpuNsPerMessage):N0} / {Med(x => x.ConsumerCpuNsPerMessage):N0} | {Med(x => x.ProducerGen0):0} / {Med(x => x.ConsumerGen0):0} | {Med(x => x.Fallbacks * 1000.0 / messages):0.##} | {Med(x => x.FallbackMs / 10 / x.Seconds / pairs):0.#} | {consumer} | {parked} |"));
                }
            }
        }
        md.AppendLine();
        md.AppendLine("CPU ns per message: the producer (or consumer) processes' CPU time (all threads, user + system, from the start barrier to the end of their part) summed over the processes and divided by the messages. Fallback time % is the producers' summed time inside `WriteAsync` over (run time × producers).");
        md.AppendLine();
    }

    private static string PayloadLabel(string payload, string impl) => impl.StartsWith("cpython", StringComparison.Ordinal)
        ? ChannelRunner.PythonPayload(payload) switch { "int" => "int", "record" => "dict (record)", _ => "bytes 64 KiB" }
        : impl.StartsWith("floor", StringComparison.Ordinal) ? "8-byte (uint64)" : payload == PackedOrderPayload.Name ? "record (MemoryPack)" : payload;

    private static string ImplLabel(string impl) => impl switch
    {
        "ours channel-readall" => "**ours** SharedChannel, `ReadAllAsync`",
        "ours channel-drain" => "**ours** SharedChannel, `WaitToReadAsync` + `TryRead`",
        "ours pipe-drain" => "**ours** Pipe, `WaitToReadAsync` + `TryRead`",
        "cpython queue" => "CPython `Queue`",
        "cpython queue put loop" => "(CPython `Queue`: its producers' `put()` loop alone, not delivery)",
        "cpython simplequeue" => "CPython `SimpleQueue`",
        "cpython pipe" => "CPython `Pipe`",
        "floor spin" => "C `ring_spsc` (spin)",
        "floor futex" => "C `ring_spsc futex`",
        _ => impl,
    };

    private static string Wire(ChannelResults r, string payload) => r.WireBytes.TryGetValue(payload, out int bytes) ? Inv($"{bytes:N0}") : "?";

    private static string PyWire(ChannelResults r, string payload) => r.PythonWireBytes.TryGetValue(payload, out int bytes) ? Inv($"{bytes:N0}") : "?";

    private static string RateText(IReadOnlyList<double> values)
    {
        Summary s = Summary.Of([.. values])!.Value;
        return Inv($"{Rate(s.Median)} [{Rate(s.Min)} – {Rate(s.Max)}]");
    }

    private static string MegabytesText(IReadOnlyList<double> values, string payload)
    {
        Summary s = Summary.Of([.. values])!.Value;
        double mb = s.Median * ChannelPayloads.PayloadBytes(payload) / 1e6;
        return mb >= 100 ? Inv($"{mb:N0}") : Inv($"{mb:0.0}");
    }

    /// <summary>"12.3× [10.1 – 14.0]": the ratio of medians, and the range of the per-round ratios.</summary>
    private static string RatioText(IReadOnlyList<double> ours, IReadOnlyList<double> peer)
    {
        if (ours.Count == 0 || peer.Count == 0)
        {
            return "n/a";
        }
        double ratio = Summary.Of([.. ours])!.Value.Median / Summary.Of([.. peer])!.Value.Median;
        int n = Math.Min(ours.Count, peer.Count);
        double[] rounds = [.. Enumerable.Range(0, n).Select(i => ours[i] / peer[i])];
        return n > 1 ? Inv($"{Ratio(ratio)} [{Ratio(rounds.Min())} – {Ratio(rounds.Max())}]") : Ratio(ratio);
    }

    private static string Ratio(double ratio) => ratio switch
    {
        >= 10 => Inv($"{ratio:0}×"),
        >= 1 => Inv($"{ratio:0.0}×"),
        >= 0.1 => Inv($"{ratio:0.00}×"),
        _ => Inv($"{ratio * 100:0.0#} %"),
    };

    public static string Rate(double perSecond) => perSecond switch
    {
        >= 1e6 => Inv($"{perSecond / 1e6:0.00} M"),
        >= 1e3 => Inv($"{perSecond / 1e3:0.0} k"),
        _ => Inv($"{perSecond:0}"),
    };

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>CPU and kernel, for report headers.</summary>
internal static class Machine
{
    public static string Cpu() => ProcFs.ReadCpuInfo("model name") ?? "unknown";

    public static string Kernel() => ProcFs.ReadFirstLine("/proc/sys/kernel/osrelease")?.Trim() ?? "unknown";
}
