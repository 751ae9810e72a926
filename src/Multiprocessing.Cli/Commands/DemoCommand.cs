using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Multiprocessing.Interop;
using Multiprocessing.Cli.Experiments;
using Multiprocessing.Cli.Output;

namespace Multiprocessing.Cli.Commands;

/// <summary>
/// <c>mp demo</c>: the product's point in one screen. First, memory: a dataset used by 1, 2, 4, 8
/// workers, each with its own copy or all sharing one <see cref="SharedArray{T}"/>, with the total
/// PSS read from the kernel (copies grow by a dataset per worker; shared stays flat), drawn as an SVG
/// chart. Then speed: primes counted serially and on pools of the same sizes.
/// </summary>
public sealed class DemoCommand : CliCommand
{
    /// <summary>Default of <c>--size</c>: sized so that the whole demo takes seconds on two cores.</summary>
    public const int DefaultSize = 5_000_000;

    /// <summary>Default of <c>--tasks</c>: enough ranges to balance uneven work over a few workers.</summary>
    public const int DefaultTasks = 64;

    /// <summary>Default of <c>--items</c>: the Python write-up's <c>list(range(10_000_000))</c>, as longs (76 MiB).</summary>
    public const int DefaultItems = 10_000_000;

    /// <summary>File name of the chart written under <c>--out</c>.</summary>
    public const string ChartFileName = "mp-demo-memory.svg";

    private readonly Option<int> _items = new("--items", "-i")
    {
        Description = "Elements (longs) in the dataset of the memory experiment (also accepts 10_000_000, 500k, 10M).",
        HelpName = "COUNT",
        DefaultValueFactory = _ => DefaultItems,
        CustomParser = r => ArgumentParsers.ParseCount(r, 1, Array.MaxLength),
    };

    private readonly Option<IReadOnlyList<int>> _workers = new("--workers", "-w")
    {
        Description = "Worker counts to try, comma-separated. [default: 1,2,4,8]",
        HelpName = "LIST",
        CustomParser = r => ArgumentParsers.ParseCountList(r, 1, 64),
    };

    private readonly Option<int> _size = new("--size", "-n")
    {
        Description = "Speed-up experiment: count the primes below this number (also accepts 5_000_000, 500k, 5M).",
        HelpName = "N",
        DefaultValueFactory = _ => DefaultSize,
        CustomParser = r => ArgumentParsers.ParseCount(r, 2, int.MaxValue),
    };

    private readonly Option<int> _tasks = new("--tasks", "-t")
    {
        Description = "Speed-up experiment: split the job into this many ranges, each one pool task.",
        HelpName = "COUNT",
        DefaultValueFactory = _ => DefaultTasks,
        CustomParser = r => ArgumentParsers.ParseCount(r, 1, 1_000_000),
    };

    private readonly Option<string> _out = new("--out", "-o")
    {
        Description = $"Directory to write the memory chart ({ChartFileName}) to. [default: the current directory]",
        HelpName = "DIR",
    };

    private readonly Option<bool> _json = new("--json")
    {
        Description = "Write the results as JSON on standard output instead of tables.",
    };

    /// <summary>Creates the command.</summary>
    public DemoCommand() : base("demo", "Show N workers sharing one dataset at the memory cost of one (total PSS, copied vs shared), then the speed-up of a CPU-bound job.")
    {
        Options.Add(_items);
        Options.Add(_workers);
        Options.Add(_size);
        Options.Add(_tasks);
        Options.Add(_out);
        Options.Add(_json);
    }

    /// <inheritdoc/>
    protected override async Task<int> ExecuteAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        IReadOnlyList<int> workerCounts = parseResult.GetValue(_workers) is { Count: > 0 } given ? given : [1, 2, 4, 8];
        var memorySettings = new MemorySettings(parseResult.GetValue(_items), workerCounts);
        var speedupSettings = new SpeedupSettings(parseResult.GetValue(_size), parseResult.GetValue(_tasks), workerCounts);
        TextWriter output = parseResult.InvocationConfiguration.Output;
        TextWriter error = parseResult.InvocationConfiguration.Error;
        bool json = parseResult.GetValue(_json);

        long needed = MemoryExperiment.PeakBytes(memorySettings);
        long available = AvailableMemory();
        if (needed > available)
        {
            await error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"mp demo: --items {memorySettings.Items:N0} needs about {Units.Bytes(needed)} (the dataset, plus one copy per worker in the copied runs, up to {workerCounts.Max()} workers), " +
                $"and this machine has {Units.Bytes(available)} available. Use a smaller --items or fewer --workers.")).ConfigureAwait(false);
            return MpCommandLine.UsageError;
        }
        string directory = Path.GetFullPath(parseResult.GetValue(_out) ?? ".");
        if (!Directory.Exists(directory))
        {
            await error.WriteLineAsync($"mp demo: --out {directory}: no such directory.").ConfigureAwait(false);
            return MpCommandLine.UsageError;
        }

        var status = new StatusLine(json ? TextWriter.Null : error);
        var memory = new List<MemoryRow>();
        await foreach (MemoryRow row in MemoryExperiment.RunAsync(memorySettings, status, cancellationToken).ConfigureAwait(false))
        {
            memory.Add(row);
        }
        status.Report("counting primes");
        var speedup = new List<SpeedupRow>();
        await foreach (SpeedupRow row in SpeedupExperiment.RunAsync(speedupSettings, cancellationToken).ConfigureAwait(false))
        {
            speedup.Add(row);
        }
        status.Clear();

        string chartPath = Path.Combine(directory, ChartFileName);
        await File.WriteAllTextAsync(chartPath, MemoryChart(memorySettings, memory), cancellationToken).ConfigureAwait(false);
        bool allAgree = memory.TrueForAll(r => r.Agrees) && speedup.TrueForAll(r => r.Agrees);
        if (json)
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(Report(memorySettings, memory, speedupSettings, speedup, chartPath, allAgree), JsonOutput.Default.DemoReport)).ConfigureAwait(false);
        }
        else
        {
            await WriteMemoryTableAsync(output, memorySettings, memory).ConfigureAwait(false);
            await WriteSpeedupTableAsync(output, speedupSettings, speedup).ConfigureAwait(false);
            await output.WriteLineAsync($"Chart of memory vs workers: {chartPath}").ConfigureAwait(false);
        }
        if (!allAgree)
        {
            await error.WriteLineAsync("mp demo: a worker computed a different result than this process: that is a bug in the library.").ConfigureAwait(false);
            return MpCommandLine.Failure;
        }
        return MpCommandLine.Success;
    }

    private static async Task WriteMemoryTableAsync(TextWriter output, MemorySettings settings, List<MemoryRow> rows)
    {
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"Memory: a dataset of {settings.Items:N0} longs ({Units.Bytes(settings.DatasetBytes)}) read in full by every worker; total PSS of this process and its workers, from the kernel.")).ConfigureAwait(false);
        await output.WriteLineAsync().ConfigureAwait(false);
        var table = new TextTable(output,
            ("workers", 7, false), ("copied", 10, true), ("shared", 10, true), ("saved", 10, true), ("shared / dataset", 16, true), ("worker PSS (shared)", 19, true));
        await table.WriteHeaderAsync().ConfigureAwait(false);
        foreach (int workers in settings.WorkerCounts)
        {
            MemoryRow copied = rows.Single(r => r.Mode == DatasetMode.Copied && r.Workers == workers);
            MemoryRow shared = rows.Single(r => r.Mode == DatasetMode.Shared && r.Workers == workers);
            await table.WriteRowAsync(
                workers.ToString(CultureInfo.InvariantCulture),
                Units.Bytes(copied.TotalPss),
                Units.Bytes(shared.TotalPss),
                Units.Bytes(copied.TotalPss - shared.TotalPss),
                string.Create(CultureInfo.InvariantCulture, $"{(double)shared.TotalPss / settings.DatasetBytes:0.00}x"),
                Units.Bytes((long)shared.WorkerMemory.Average(w => w.Pss))).ConfigureAwait(false);
        }
        await output.WriteLineAsync().ConfigureAwait(false);
        await output.WriteLineAsync("Copied: each worker loads and holds its own long[], as every process of a service without shared memory does. Shared: one SharedArray<long>, filled once by this process and mapped by every worker.").ConfigureAwait(false);
        await output.WriteLineAsync("PSS counts a page shared by k processes as 1/k in each, so the total is what the machine really pays.").ConfigureAwait(false);
        await output.WriteLineAsync().ConfigureAwait(false);
    }

    private static string MemoryChart(MemorySettings settings, List<MemoryRow> rows)
    {
        double[] x = [.. settings.WorkerCounts.Select(w => (double)w)];
        double MiB(long bytes) => Math.Round(bytes / 1048576.0, 1);
        SvgSeries Series(string name, DatasetMode mode) =>
            new(name, [.. settings.WorkerCounts.Select(w => MiB(rows.Single(r => r.Mode == mode && r.Workers == w).TotalPss))]);
        return SvgChart.Line(
            $"Total PSS of parent + workers, each reading a {Units.Bytes(settings.DatasetBytes)} dataset",
            $"mp demo on {Environment.ProcessorCount} cores, {Units.Bytes(TotalMemory())} RAM, {RuntimeInformation.OSDescription}, .NET {Environment.Version}",
            "workers", "total PSS (MiB)", x,
            [
                Series("copied (each worker loads a long[])", DatasetMode.Copied),
                Series("shared (one SharedArray<long>)", DatasetMode.Shared),
                new SvgSeries("dataset size", [.. settings.WorkerCounts.Select(_ => MiB(settings.DatasetBytes))], Dashed: true),
            ]);
    }

    private static DemoReport Report(MemorySettings memorySettings, List<MemoryRow> memory, SpeedupSettings speedupSettings, List<SpeedupRow> speedup, string chartPath, bool allAgree)
    {
        SpeedupRow baseline = speedup.Single(r => r.IsBaseline);
        var memoryReport = new DemoMemoryReport(memorySettings.Items, memorySettings.DatasetBytes,
            [.. memory.Select(r => new DemoMemoryRun(r.Mode.ToString().ToLowerInvariant(), r.Workers, r.TotalPss, r.TotalRss, r.Parent.Pss, r.Parent.Rss, [.. r.WorkerMemory.Select(w => w.Pss)], [.. r.WorkerMemory.Select(w => w.Rss)], r.Agrees))],
            chartPath);
        var runs = speedup.Where(r => !r.IsBaseline)
            .Select(r => new DemoRun(r.Workers, Round(r.StartTime), Round(r.Elapsed), Math.Round(r.SpeedUp, 3), r.Primes, r.Agrees))
            .ToList();
        return new DemoReport(memoryReport, "count primes by trial division", speedupSettings.Size, Math.Min(speedupSettings.Items, speedupSettings.Size),
            Environment.ProcessorCount, baseline.Primes, Round(baseline.Elapsed), runs, allAgree);
    }

    private static async Task WriteSpeedupTableAsync(TextWriter output, SpeedupSettings settings, List<SpeedupRow> rows)
    {
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"Speed: counting primes below {settings.Size:N0} by trial division, in {Math.Min(settings.Items, settings.Size):N0} ranges; {Environment.ProcessorCount} processors.")).ConfigureAwait(false);
        await output.WriteLineAsync().ConfigureAwait(false);
        var table = new TextTable(output,
            ("workers", 7, false), ("start", 8, true), ("wall time", 9, true), ("speed-up", 8, true), ("primes", 11, true), ("agrees", 6, false));
        await table.WriteHeaderAsync().ConfigureAwait(false);
        foreach (SpeedupRow row in rows)
        {
            await table.WriteRowAsync(
                row.IsBaseline ? "serial" : row.Workers.ToString(CultureInfo.InvariantCulture),
                row.IsBaseline ? "-" : Seconds(row.StartTime),
                Seconds(row.Elapsed),
                string.Create(CultureInfo.InvariantCulture, $"{row.SpeedUp:0.00}x"),
                row.Primes.ToString("N0", CultureInfo.InvariantCulture),
                row.IsBaseline ? "-" : row.Agrees ? "yes" : "NO").ConfigureAwait(false);
        }
        await output.WriteLineAsync().ConfigureAwait(false);
        await output.WriteLineAsync("'start' is pool start-up, not included in the wall time.").ConfigureAwait(false);
        await output.WriteLineAsync().ConfigureAwait(false);
    }

    private static long AvailableMemory()
    {
        Dictionary<string, long> info = ProcFs.ReadMemInfo();
        return info.GetValueOrDefault("MemAvailable") + info.GetValueOrDefault("SwapFree");
    }

    private static long TotalMemory() => ProcFs.ReadMemInfo().GetValueOrDefault("MemTotal");

    private static string Seconds(TimeSpan time) => string.Create(CultureInfo.InvariantCulture, $"{time.TotalSeconds:0.00} s");

    private static double Round(TimeSpan time) => Math.Round(time.TotalSeconds, 4);

    /// <summary>One line on standard error, rewritten in place on a terminal, saying what is being measured.</summary>
    private sealed class StatusLine(TextWriter writer) : IProgress<string>
    {
        private readonly bool _inPlace = ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected;

        public void Report(string value)
        {
            if (_inPlace)
            {
                writer.Write($"\r\u001b[2K  measuring: {value}…");
            }
            else
            {
                writer.WriteLine($"measuring: {value}");
            }
        }

        public void Clear()
        {
            if (_inPlace)
            {
                writer.Write("\r\u001b[2K");
            }
        }
    }
}
