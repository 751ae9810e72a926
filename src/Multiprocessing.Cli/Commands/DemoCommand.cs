using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Multiprocessing.Cli.Experiments;
using Multiprocessing.Cli.Output;

namespace Multiprocessing.Cli.Commands;

/// <summary>
/// <c>mp demo</c>: counts primes by trial division serially in this process, then on process
/// pools of several sizes, and prints wall time, speed-up and whether every run agrees.
/// </summary>
public sealed class DemoCommand : CliCommand
{
    /// <summary>Default of <c>--size</c>: sized so that the whole demo takes seconds on two cores.</summary>
    public const int DefaultSize = 5_000_000;

    /// <summary>Default of <c>--items</c>: enough ranges to balance uneven work over a few workers.</summary>
    public const int DefaultItems = 64;

    private readonly Option<int> _size = new("--size", "-n")
    {
        Description = "Count the primes below this number (also accepts 5_000_000, 500k, 5M).",
        HelpName = "N",
        DefaultValueFactory = _ => DefaultSize,
        CustomParser = r => ArgumentParsers.ParseCount(r, 2, int.MaxValue),
    };

    private readonly Option<int> _items = new("--items", "-i")
    {
        Description = "Split the job into this many ranges, each one pool task.",
        HelpName = "COUNT",
        DefaultValueFactory = _ => DefaultItems,
        CustomParser = r => ArgumentParsers.ParseCount(r, 1, 1_000_000),
    };

    private readonly Option<IReadOnlyList<int>> _workers = new("--workers", "-w")
    {
        // No DefaultValueFactory: the help would show the default as "1|2"; ExecuteAsync applies it.
        Description = $"Pool sizes to try, comma-separated. [default: 1,2,<processor count> = {string.Join(',', DefaultWorkerCounts())}]",
        HelpName = "LIST",
        CustomParser = r => ArgumentParsers.ParseCountList(r, 1, 1024),
    };

    private readonly Option<bool> _json = new("--json")
    {
        Description = "Write the results as JSON on standard output instead of a table.",
    };

    /// <summary>Creates the command.</summary>
    public DemoCommand() : base("demo", "Count primes serially and on process pools of several sizes; print wall time, speed-up and whether all results agree.")
    {
        Options.Add(_size);
        Options.Add(_items);
        Options.Add(_workers);
        Options.Add(_json);
    }

    /// <inheritdoc/>
    protected override async Task<int> ExecuteAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        var settings = new SpeedupSettings(parseResult.GetValue(_size), parseResult.GetValue(_items), parseResult.GetValue(_workers) ?? DefaultWorkerCounts());
        TextWriter output = parseResult.InvocationConfiguration.Output;
        TextWriter error = parseResult.InvocationConfiguration.Error;
        IAsyncEnumerable<SpeedupRow> rows = SpeedupExperiment.RunAsync(settings, cancellationToken);
        bool allAgree = parseResult.GetValue(_json)
            ? await WriteJsonAsync(output, settings, rows).ConfigureAwait(false)
            : await WriteTableAsync(output, settings, rows).ConfigureAwait(false);
        if (!allAgree)
        {
            await error.WriteLineAsync("mp demo: a pool run found different counts than the serial run: that is a bug in the pool.").ConfigureAwait(false);
            return MpCommandLine.Failure;
        }
        return MpCommandLine.Success;
    }

    private static IReadOnlyList<int> DefaultWorkerCounts() => [.. new[] { 1, 2, Environment.ProcessorCount }.Distinct()];

    private static async Task<bool> WriteTableAsync(TextWriter output, SpeedupSettings settings, IAsyncEnumerable<SpeedupRow> rows)
    {
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"Counting primes below {settings.Size:N0} by trial division, in {Math.Min(settings.Items, settings.Size):N0} ranges; {Environment.ProcessorCount} processors.")).ConfigureAwait(false);
        await output.WriteLineAsync().ConfigureAwait(false);
        var table = new TextTable(output,
            ("workers", 7, false), ("start", 8, true), ("wall time", 9, true), ("speed-up", 8, true), ("primes", 11, true), ("agrees", 6, false));
        await table.WriteHeaderAsync().ConfigureAwait(false);
        bool allAgree = true;
        long primes = 0;
        await foreach (SpeedupRow row in rows.ConfigureAwait(false))
        {
            allAgree &= row.Agrees;
            primes = row.IsBaseline ? row.Primes : primes;
            await table.WriteRowAsync(
                row.IsBaseline ? "serial" : row.Workers.ToString(CultureInfo.InvariantCulture),
                row.IsBaseline ? "-" : Seconds(row.StartTime),
                Seconds(row.Elapsed),
                string.Create(CultureInfo.InvariantCulture, $"{row.SpeedUp:0.00}x"),
                row.Primes.ToString("N0", CultureInfo.InvariantCulture),
                row.IsBaseline ? "-" : row.Agrees ? "yes" : "NO").ConfigureAwait(false);
        }
        await output.WriteLineAsync().ConfigureAwait(false);
        await output.WriteLineAsync(allAgree
            ? string.Create(CultureInfo.InvariantCulture, $"All runs agree: {primes:N0} primes below {settings.Size:N0}. 'start' is pool start-up (not in the wall time).")
            : "Runs DISAGREE: see the 'agrees' column.").ConfigureAwait(false);
        return allAgree;
    }

    private static async Task<bool> WriteJsonAsync(TextWriter output, SpeedupSettings settings, IAsyncEnumerable<SpeedupRow> rows)
    {
        SpeedupRow? baseline = null;
        var runs = new List<DemoRun>();
        await foreach (SpeedupRow row in rows.ConfigureAwait(false))
        {
            if (row.IsBaseline)
            {
                baseline = row;
            }
            else
            {
                runs.Add(new DemoRun(row.Workers, Round(row.StartTime), Round(row.Elapsed), Math.Round(row.SpeedUp, 3), row.Primes, row.Agrees));
            }
        }
        bool allAgree = runs.TrueForAll(r => r.Agrees);
        var report = new DemoReport("count primes by trial division", settings.Size, Math.Min(settings.Items, settings.Size), Environment.ProcessorCount,
            baseline?.Primes ?? 0, baseline is null ? 0 : Round(baseline.Elapsed), runs, allAgree);
        await output.WriteLineAsync(JsonSerializer.Serialize(report, JsonOutput.Default.DemoReport)).ConfigureAwait(false);
        return allAgree;
    }

    private static string Seconds(TimeSpan time) => string.Create(CultureInfo.InvariantCulture, $"{time.TotalSeconds:0.00} s");

    private static double Round(TimeSpan time) => Math.Round(time.TotalSeconds, 4);
}
