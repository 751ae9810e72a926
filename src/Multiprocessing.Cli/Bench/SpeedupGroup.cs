using System.Globalization;
using System.Text.Json;
using Multiprocessing.Cli.Experiments;
using Multiprocessing.Cli.Jobs;
using Multiprocessing.Cli.Output;

namespace Multiprocessing.Cli.Bench;

/// <summary>
/// The CPU-bound speed-up group, run in this process: the speed-up experiment's job
/// (<see cref="SpeedupJob"/>: primes by trial division in [0, size), split into ranges) serially
/// and then on 1..N workers, on a <see cref="ProcessPool"/>, with an in-process <c>Parallel.For</c>, and with
/// CPython's <c>multiprocessing.Pool</c> (bench/python/speedup_peer.py, the same algorithm, sizes and
/// ranges). Rounds alternate ours and CPython's; every count is checked against the serial one.
/// </summary>
internal static class SpeedupGroup
{
    /// <summary>Sizes of a run.</summary>
    /// <param name="Size">Primes are counted below this.</param>
    /// <param name="Ranges">Tasks the job is split into.</param>
    /// <param name="Workers">Worker counts.</param>
    /// <param name="Rounds">Rounds (each: ours, then CPython, order flipped every other round).</param>
    public sealed record Settings(int Size, int Ranges, IReadOnlyList<int> Workers, int Rounds)
    {
        /// <summary>The sizes of <c>--quick</c> or of a full run.</summary>
        public static Settings For(bool quick)
        {
            int cores = Math.Max(2, Environment.ProcessorCount);
            int[] workers = [.. Enumerable.Range(1, cores)];
            return quick ? new Settings(500_000, 32, [1, 2], 2) : new Settings(1_000_000, 32, workers, 5);
        }
    }

    /// <summary>Runs the group and fills <paramref name="group"/>.</summary>
    public static async Task RunAsync(GroupResult group, Settings settings, string python, string? peerScript, Action<string> log, CancellationToken cancellationToken)
    {
        var job = new SpeedupJob(settings.Size, settings.Ranges);
        NumberRange[] ranges = job.Ranges;
        int[] expected = job.RunSerial(cancellationToken).Counts;
        var oursSerial = new List<double>();
        var pySerial = new List<double>();
        Dictionary<int, List<double>> pool = settings.Workers.ToDictionary(w => w, _ => new List<double>());
        Dictionary<int, List<double>> parallel = settings.Workers.ToDictionary(w => w, _ => new List<double>());
        Dictionary<int, List<double>> pyPool = settings.Workers.ToDictionary(w => w, _ => new List<double>());
        bool havePython = peerScript is not null && File.Exists(python) && File.Exists(peerScript);
        string pythonArgs = $"{peerScript} --size {settings.Size} --ranges {settings.Ranges} --workers {string.Join(',', settings.Workers)}";
        group.Command = $"ours in `mp bench` itself; CPython: `{python} {pythonArgs}`; {settings.Rounds} rounds";
        if (!havePython)
        {
            group.Notes.Add($"CPython peer missing ({python} or bench/python/speedup_peer.py not found): the CPython columns say peer missing.");
        }
        bool allAgree = true;
        var pools = new Dictionary<int, ProcessPool>();
        try
        {
            foreach (int w in settings.Workers)
            {
                pools[w] = await SpeedupJob.StartPoolAsync(w, job, cancellationToken).ConfigureAwait(false);
            }
            for (int round = 0; round < settings.Rounds; round++)
            {
                log($"speedup: round {round + 1}/{settings.Rounds}");
                async Task Ours()
                {
                    (TimeSpan serialTime, int[] serial) = job.RunSerial(cancellationToken);
                    oursSerial.Add(serialTime.TotalMilliseconds);
                    allAgree &= serial.AsSpan().SequenceEqual(expected);
                    foreach (int w in settings.Workers)
                    {
                        (TimeSpan parallelTime, int[] counts) = job.RunParallelFor(w, cancellationToken);
                        parallel[w].Add(parallelTime.TotalMilliseconds);
                        allAgree &= counts.AsSpan().SequenceEqual(expected);
                        (TimeSpan poolTime, int[] pooled) = await job.RunOnPoolAsync(pools[w], cancellationToken).ConfigureAwait(false);
                        pool[w].Add(poolTime.TotalMilliseconds);
                        allAgree &= pooled.AsSpan().SequenceEqual(expected);
                    }
                }
                async Task Python()
                {
                    if (!havePython)
                    {
                        return;
                    }
                    ChildResult result = await ChildRunner.RunAsync(python, [peerScript!, "--size", Inv(settings.Size), "--ranges", Inv(settings.Ranges), "--workers", string.Join(',', settings.Workers)],
                        Path.GetDirectoryName(peerScript)!, TimeSpan.FromMinutes(10), null, cancellationToken).ConfigureAwait(false);
                    if (result.ExitCode != 0)
                    {
                        throw new InvalidOperationException($"speedup_peer.py failed (exit code {result.ExitCode}): {result.Error.Trim().Split('\n').LastOrDefault()}");
                    }
                    using var json = JsonDocument.Parse(result.Output.Trim().Split('\n')[^1]);
                    JsonElement root = json.RootElement;
                    pySerial.Add(root.GetProperty("serial_s").GetDouble() * 1000);
                    allAgree &= root.GetProperty("serial_primes").GetInt64() == expected.Sum(c => (long)c);
                    foreach (int w in settings.Workers)
                    {
                        JsonElement run = root.GetProperty("pool").GetProperty(Inv(w));
                        pyPool[w].Add(run.GetProperty("s").GetDouble() * 1000);
                        allAgree &= run.GetProperty("agrees").GetBoolean();
                    }
                }
                if (round % 2 == 0)
                {
                    await Ours().ConfigureAwait(false);
                    await Python().ConfigureAwait(false);
                }
                else
                {
                    await Python().ConfigureAwait(false);
                    await Ours().ConfigureAwait(false);
                }
            }
        }
        finally
        {
            foreach (ProcessPool p in pools.Values)
            {
                await p.DisposeAsync().ConfigureAwait(false);
            }
        }
        if (!allAgree)
        {
            group.Notes.Add("**Some run's prime counts disagreed with the serial count**: the figures below are suspect.");
        }
        group.Notes.Add(Inv($"Job: count the primes below {settings.Size:N0} by trial division, in {ranges.Length} ranges (one task each, chunk size 1), {expected.Sum():N0} primes. ") +
            "Speed-up = that side's own serial time ÷ its parallel wall time, per round; pools are started and warmed before the clock. " +
            "The same job takes CPython tens of times longer than .NET, so ours measures the parallel overhead on a far shorter job: a speed-up ratio below 1 can be that fixed overhead, not worse scaling.");

        string peerMissing = havePython ? "n/a" : "peer missing";
        group.Rows.Add(new BenchRow("serial", "Serial job in one process, wall time (ms)", Fmt(oursSerial), "CPython, serial", Fmt(pySerial, peerMissing), RatioOfMedians(oursSerial, pySerial), RatioValue(oursSerial, pySerial), "", ""));
        foreach (int w in settings.Workers)
        {
            List<double> oursUp = SpeedUps(oursSerial, pool[w]);
            List<double> parUp = SpeedUps(oursSerial, parallel[w]);
            List<double> pyUp = SpeedUps(pySerial, pyPool[w]);
            group.Rows.Add(new BenchRow(Inv($"{w} worker(s)"), Inv($"Speed-up of `ProcessPool.MapAsync` with {w} worker(s) (×)"), Fmt(oursUp), "CPython `Pool.map`, fork", Fmt(pyUp, peerMissing), RatioOfMedians(oursUp, pyUp), RatioValue(oursUp, pyUp), "", ""));
            group.Rows.Add(new BenchRow(Inv($"{w} worker(s)"), "The same (×)", Fmt(oursUp), Inv($"in-process `Parallel.For`, {w} thread(s)"), Fmt(parUp), RatioOfMedians(oursUp, parUp), RatioValue(oursUp, parUp), "", ""));
            group.Rows.Add(new BenchRow(Inv($"{w} worker(s)"), "Wall time of the job on the pool (ms)", Fmt(pool[w]), "CPython `Pool.map`", Fmt(pyPool[w], peerMissing), RatioOfMedians(pool[w], pyPool[w]), RatioValue(pool[w], pyPool[w]), "", ""));
        }
        string[] categories = [.. settings.Workers.Select(w => Inv(w))];
        group.Chart = new BenchChart("CPU-bound speed-up (serial time ÷ parallel time, medians)", "workers", "speed-up (×)", categories,
        [
            new SvgSeries("ProcessPool", [.. settings.Workers.Select(w => Median(SpeedUps(oursSerial, pool[w])))]),
            new SvgSeries("Parallel.For (in-process)", [.. settings.Workers.Select(w => Median(SpeedUps(oursSerial, parallel[w])))]),
            new SvgSeries("CPython Pool", [.. settings.Workers.Select(w => Median(SpeedUps(pySerial, pyPool[w])))]),
            new SvgSeries("ideal", [.. settings.Workers.Select(w => (double)w)], Dashed: true),
        ], Line: true);
    }

    private static List<double> SpeedUps(List<double> serial, List<double> parallel) =>
        [.. serial.Zip(parallel, (s, p) => p > 0 ? s / p : double.NaN)];

    private static double Median(List<double> values)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Fmt(List<double> values, string missing = "n/a") =>
        values.Count == 0 ? missing : $"{Num(Median(values))} [{Num(values.Min())} – {Num(values.Max())}]";

    private static double RatioValue(List<double> ours, List<double> peer) =>
        ours.Count > 0 && peer.Count > 0 && Median(peer) != 0 ? Median(ours) / Median(peer) : double.NaN;

    private static string RatioOfMedians(List<double> ours, List<double> peer) =>
        RatioValue(ours, peer) is var ratio && double.IsFinite(ratio) ? Inv($"{ratio:0.00}×") : "n/a";

    private static string Num(double value) => value switch
    {
        >= 100 => Inv($"{value:0}"),
        >= 10 => Inv($"{value:0.0}"),
        _ => Inv($"{value:0.00}"),
    };

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Inv(int value) => value.ToString(CultureInfo.InvariantCulture);
}
