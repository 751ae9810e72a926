using System.Diagnostics;
using System.Globalization;
using System.Text;
using Multiprocessing;
using Multiprocessing.Cli.Output;

namespace PreforkWeb;

/// <summary>
/// <c>--measure</c>: for N = 1, 2, 4, 8 workers and both modes, starts the server, warms it up,
/// loads it with wrk (127.0.0.1 only), reads the total PSS of this process and its workers from the
/// kernel while the load runs, and records requests/s. Then kills one worker with <c>kill -9</c>
/// under load to show that it is replaced and the server keeps answering.
/// </summary>
public static class Measurement
{
    private static readonly int[] WorkerCounts = [1, 2, 4, 8];
    private const string WrkThreads = "2";
    private const string WrkConnections = "32";

    /// <summary>One measured configuration.</summary>
    /// <param name="Mode">Copied or shared.</param>
    /// <param name="Workers">Worker processes.</param>
    /// <param name="ParentPss">This process's PSS in bytes (peak of the samples taken under load).</param>
    /// <param name="WorkersPss">The workers' PSS added up, in bytes, at the same sample.</param>
    /// <param name="RequestsPerSecond">wrk's Requests/sec.</param>
    /// <param name="Errors">wrk's socket errors and non-2xx responses, as it printed them (empty when none).</param>
    public sealed record Row(DatasetMode Mode, int Workers, long ParentPss, long WorkersPss, double RequestsPerSecond, string Errors)
    {
        /// <summary>Parent and workers.</summary>
        public long TotalPss => ParentPss + WorkersPss;
    }

    /// <summary>Runs the measurement and writes the charts.</summary>
    /// <param name="options">Items, duration and output directory.</param>
    /// <returns>The process exit code.</returns>
    public static async Task<int> RunAsync(Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var all = new List<Row>();
        // Rounds interleave the configurations, so that a noisy minute on a shared machine spreads
        // over all of them instead of spoiling one; each figure is the median of the rounds.
        for (int round = 1; round <= options.Repeat; round++)
        {
            foreach (DatasetMode mode in new[] { DatasetMode.Copied, DatasetMode.Shared })
            {
                foreach (int workers in WorkerCounts)
                {
                    Row row = await MeasureAsync(mode, workers, options).ConfigureAwait(false);
                    all.Add(row);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"round {round}: {Name(mode)} N={workers}: total PSS {Mib(row.TotalPss):0.0} MiB (parent {Mib(row.ParentPss):0.0}, workers {Mib(row.WorkersPss):0.0}), {row.RequestsPerSecond:0} req/s {row.Errors}"));
                }
            }
        }
        List<Row> rows = [.. all.GroupBy(r => (r.Mode, r.Workers)).Select(g => g.OrderBy(r => r.TotalPss).ElementAt(g.Count() / 2) with
        {
            RequestsPerSecond = Median(g.Select(r => r.RequestsPerSecond)),
            Errors = string.Join(" | ", g.Select(r => r.Errors).Where(e => e.Length > 0)),
        })];
        string machine = Machine();
        Console.WriteLine();
        Console.WriteLine(Table(rows, all, options));
        string images = Path.Combine(options.OutputDirectory, "images");
        Directory.CreateDirectory(images);
        double[] x = [.. WorkerCounts.Select(n => (double)n)];
        double dataset = Mib(options.Items * (long)sizeof(long));
        await File.WriteAllTextAsync(Path.Combine(images, "prefork-memory.svg"), SvgChart.Line(
            "PreforkWeb: total PSS under load (parent + workers)", machine, "worker processes", "total PSS (MiB)", x,
            [
                new SvgSeries("copied: long[] per worker", [.. Select(rows, DatasetMode.Copied, r => Mib(r.TotalPss))]),
                new SvgSeries("shared: one SharedArray<long>", [.. Select(rows, DatasetMode.Shared, r => Mib(r.TotalPss))]),
                new SvgSeries("dataset size", [.. x.Select(_ => dataset)], Dashed: true),
            ])).ConfigureAwait(false);
        await File.WriteAllTextAsync(Path.Combine(images, "prefork-throughput.svg"), SvgChart.Bar(
            "PreforkWeb: requests/s (wrk -t2 -c32, 127.0.0.1)", machine, "worker processes", "requests/s",
            [.. WorkerCounts.Select(n => n.ToString(CultureInfo.InvariantCulture))],
            [
                new SvgSeries("copied", [.. Select(rows, DatasetMode.Copied, r => r.RequestsPerSecond)]),
                new SvgSeries("shared", [.. Select(rows, DatasetMode.Shared, r => r.RequestsPerSecond)]),
            ])).ConfigureAwait(false);
        Console.WriteLine($"charts written to {Path.GetFullPath(images)}");
        Console.WriteLine();
        await DemonstrateRestartAsync(options).ConfigureAwait(false);
        return 0;
    }

    private static IEnumerable<double> Select(List<Row> rows, DatasetMode mode, Func<Row, double> value) =>
        WorkerCounts.Select(n => rows.Single(r => r.Mode == mode && r.Workers == n)).Select(value);

    private static async Task<Row> MeasureAsync(DatasetMode mode, int workers, Options options)
    {
        // Start each configuration from a settled parent, without the previous one's garbage.
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        PreforkServer server = PreforkServer.Start(mode, workers, 0, options.Items, line => Console.WriteLine($"  {line}"));
        await using (server.ConfigureAwait(false))
        {
            await server.WaitUntilReadyAsync(TimeSpan.FromMinutes(3)).ConfigureAwait(false);
            string url = $"http://127.0.0.1:{server.Port}/";
            await Wrk(url, 2).ConfigureAwait(false); // warm-up: JIT, connection set-up, tiering
            Task<string> load = Wrk(url, options.Duration);
            (long parent, long workersPss) peak = (0, 0);
            for (int sample = 0; sample < 3; sample++) // at 40 %, 60 % and 80 % of the load
            {
                await Task.Delay(TimeSpan.FromSeconds(options.Duration * 0.2)).ConfigureAwait(false);
                long parent = ProcessMemory.ReadCurrent().Pss;
                long sum = server.WorkerIds.Sum(pid => ProcessMemory.TryRead(pid, out MemoryUsage? m) ? m.Pss : 0);
                if (parent + sum > peak.parent + peak.workersPss)
                {
                    peak = (parent, sum);
                }
            }
            string output = await load.ConfigureAwait(false);
            await server.StopAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            return new Row(mode, workers, peak.parent, peak.workersPss, RequestsPerSecond(output), Errors(output));
        }
    }

    private static async Task DemonstrateRestartAsync(Options options)
    {
        var log = new List<string>();
        var clock = Stopwatch.StartNew();
        void Log(string line)
        {
            string stamped = string.Create(CultureInfo.InvariantCulture, $"t={clock.Elapsed.TotalSeconds:0.00}s {line}");
            lock (log)
            {
                log.Add(stamped);
            }
        }
        PreforkServer server = PreforkServer.Start(DatasetMode.Shared, 2, 0, options.Items, Log);
        await using (server.ConfigureAwait(false))
        {
            await server.WaitUntilReadyAsync(TimeSpan.FromMinutes(3)).ConfigureAwait(false);
            string url = $"http://127.0.0.1:{server.Port}/";
            Log($"ready: workers {string.Join(", ", server.WorkerIds)}");
            Task<string> load = Wrk(url, 6);
            await Task.Delay(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            int victim = server.WorkerIds[0];
            Log($"kill -9 {victim} (wrk is running)");
            using (Process kill = Process.Start("kill", $"-9 {victim}"))
            {
                await kill.WaitForExitAsync().ConfigureAwait(false);
            }
            while (server.Restarts < 1)
            {
                await Task.Delay(10).ConfigureAwait(false);
            }
            // The replacement has started; wait until it listens too.
            await server.WaitUntilReadyAsync(TimeSpan.FromMinutes(1)).ConfigureAwait(false);
            Log($"replacement listening: workers {string.Join(", ", server.WorkerIds)}");
            string output = await load.ConfigureAwait(false);
            Log(string.Create(CultureInfo.InvariantCulture, $"wrk (6 s, kill at 2 s): {RequestsPerSecond(output):0} req/s {Errors(output)}"));
            using var http = new HttpClient();
            var answered = new SortedSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < 50; i++)
            {
                // New connections each time, so the kernel spreads them over both listeners.
                using var request = new HttpRequestMessage(HttpMethod.Get, url + "pid");
                request.Headers.ConnectionClose = true;
                using HttpResponseMessage response = await http.SendAsync(request).ConfigureAwait(false);
                answered.Add(await response.EnsureSuccessStatusCode().Content.ReadAsStringAsync().ConfigureAwait(false));
            }
            Log($"after the restart, 50 requests on new connections answered by pids {string.Join(", ", answered)}");
            await server.StopAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        Console.WriteLine("Restart demonstration (shared mode, 2 workers):");
        foreach (string line in log)
        {
            Console.WriteLine("    " + line);
        }
    }

    private static async Task<string> Wrk(string url, int seconds)
    {
        var start = new ProcessStartInfo("wrk")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { "-t", WrkThreads, "-c", WrkConnections, "-d", $"{seconds}s", url })
        {
            start.ArgumentList.Add(arg);
        }
        using Process wrk = Process.Start(start) ?? throw new InvalidOperationException("wrk did not start (apt-get install -y wrk).");
        Task<string> stdout = wrk.StandardOutput.ReadToEndAsync();
        Task<string> stderr = wrk.StandardError.ReadToEndAsync();
        await wrk.WaitForExitAsync().ConfigureAwait(false);
        string output = await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false);
        return wrk.ExitCode == 0 ? output : throw new InvalidOperationException($"wrk failed ({wrk.ExitCode}): {output}");
    }

    private static double RequestsPerSecond(string wrkOutput)
    {
        foreach (string line in wrkOutput.Split('\n'))
        {
            if (line.StartsWith("Requests/sec:", StringComparison.Ordinal))
            {
                return double.Parse(line["Requests/sec:".Length..].Trim(), CultureInfo.InvariantCulture);
            }
        }
        throw new InvalidOperationException($"No Requests/sec in wrk's output: {wrkOutput}");
    }

    private static string Errors(string wrkOutput) => string.Join("; ", wrkOutput.Split('\n')
        .Select(l => l.Trim())
        .Where(l => l.StartsWith("Socket errors:", StringComparison.Ordinal) || l.StartsWith("Non-2xx", StringComparison.Ordinal)));

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Table(List<Row> rows, List<Row> all, Options options)
    {
        int items = options.Items;
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Dataset: {items:N0} × long = {Mib(items * (long)sizeof(long)):0.0} MiB. PSS in MiB: the peak of 3 samples taken while wrk -t{WrkThreads} -c{WrkConnections} -d{options.Duration}s ran, median of {options.Repeat} round(s); req/s: median, with the range over the rounds.");
        text.AppendLine();
        text.AppendLine("| workers | copied: total PSS | copied: parent / workers | copied: req/s | shared: total PSS | shared: parent / workers | shared: req/s |");
        text.AppendLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        string Range(DatasetMode mode, int n)
        {
            double[] values = [.. all.Where(r => r.Mode == mode && r.Workers == n).Select(r => r.RequestsPerSecond)];
            return values.Length > 1 ? string.Create(CultureInfo.InvariantCulture, $" ({values.Min():0}–{values.Max():0})") : "";
        }
        foreach (int n in WorkerCounts)
        {
            Row c = rows.Single(r => r.Mode == DatasetMode.Copied && r.Workers == n);
            Row s = rows.Single(r => r.Mode == DatasetMode.Shared && r.Workers == n);
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {n} | {Mib(c.TotalPss):0.0} | {Mib(c.ParentPss):0.0} / {Mib(c.WorkersPss):0.0} | {c.RequestsPerSecond:0}{Range(DatasetMode.Copied, n)} | {Mib(s.TotalPss):0.0} | {Mib(s.ParentPss):0.0} / {Mib(s.WorkersPss):0.0} | {s.RequestsPerSecond:0}{Range(DatasetMode.Shared, n)} |");
        }
        IEnumerable<string> errors = rows.Where(r => r.Errors.Length > 0).Select(r => $"{Name(r.Mode)} N={r.Workers}: {r.Errors}");
        foreach (string e in errors)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"wrk reported: {e}");
        }
        return text.ToString();
    }

    private static string Machine()
    {
        string kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "?";
        return $"{Environment.ProcessorCount} cores, Linux {kernel}, .NET {Environment.Version}";
    }

    private static string Name(DatasetMode mode) => mode.ToString().ToLowerInvariant();

    private static double Mib(long bytes) => bytes / (1024.0 * 1024.0);
}
