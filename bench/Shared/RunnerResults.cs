using System.Text.Json;
using System.Text.Json.Serialization;

// Compiled into both the benchmark runner (bench/Multiprocessing.Benchmarks) and `mp bench`
// (src/Multiprocessing.Cli), so the two read and write one definition of the results.
namespace Multiprocessing.Benchmarks.Results;

/// <summary>The runner's modes that <c>mp bench</c> runs as groups; the runner answers <c>list-modes</c> with these.</summary>
internal static class RunnerModes
{
    /// <summary>The process pool beside CPython's Pool and the C pipe floor.</summary>
    public const string Pool = "sidebyside";

    /// <summary>Shared memory beside CPython's shared_memory.</summary>
    public const string SharedMemory = "sharedmem";

    /// <summary>SharedLock beside CPython's Lock and the C futex floor.</summary>
    public const string Locks = "locks";

    /// <summary>SharedChannel and Pipe beside CPython's queues and the C ring floor.</summary>
    public const string Channels = "channels";

    /// <summary>ClusterPool over 2 local nodes beside Dask distributed.</summary>
    public const string Cluster = "cluster";

    /// <summary>The command that prints <see cref="All"/>, one a line.</summary>
    public const string ListCommand = "list-modes";

    /// <summary>Every mode, in suite order.</summary>
    public static readonly IReadOnlyList<string> All = [Pool, SharedMemory, Locks, Channels, Cluster];
}

/// <summary>
/// What one mode of the benchmark runner measured, as <c>mp bench</c> shows it: the runner writes it
/// to the file named by <c>--json</c>, beside its markdown page.
/// </summary>
internal sealed record RunnerResults
{
    /// <summary>The mode that measured (one of <see cref="RunnerModes.All"/>).</summary>
    public required string Mode { get; init; }

    /// <summary>The comparisons, in report order.</summary>
    public List<ResultRow> Rows { get; init; } = [];

    /// <summary>What the reader of the figures must know (a peer or floor absent and why).</summary>
    public List<string> Notes { get; init; } = [];

    /// <summary>The group's chart when the runner draws one of its own; null: <c>mp bench</c> charts the rows' ratios.</summary>
    public ResultChart? Chart { get; init; }

    /// <summary>The hand-written notes kept at the end of the mode's page, if it has any.</summary>
    public string HandWrittenNotes { get; init; } = "";
}

/// <summary>One comparison: our figure beside one peer's. Figures are text as the mode's page shows them ("median [min – max]"), so nothing is rounded twice.</summary>
/// <param name="Id">Short key of the workload within its group, such as "(b)" or "2b N=2".</param>
/// <param name="Measure">What was measured, with its unit.</param>
/// <param name="Ours">Our figure.</param>
/// <param name="Peer">Who the peer is.</param>
/// <param name="PeerFigure">The peer's figure, or n/a.</param>
/// <param name="Ratio">Ours ÷ peer of the medians as shown, with the per-round range where there is one; "n/a" or empty when there is none.</param>
/// <param name="RatioValue">Ours ÷ peer of the medians as a number; null when there is none.</param>
/// <param name="Target">The DESIGN.md section 5 target of the row; empty when it has none.</param>
/// <param name="Met">"yes", "no", "k of n runs", "n/a" …; empty when the row has no target.</param>
internal sealed record ResultRow(string Id, string Measure, string Ours, string Peer, string PeerFigure, string Ratio, double? RatioValue, string Target, string Met);

/// <summary>A chart drawn from a mode's figures.</summary>
/// <param name="Title">Chart title.</param>
/// <param name="XLabel">X axis label.</param>
/// <param name="YLabel">Y axis label with its unit.</param>
/// <param name="Categories">X categories.</param>
/// <param name="Series">The series, one value per category.</param>
/// <param name="Line">A line over numeric categories rather than grouped bars.</param>
internal sealed record ResultChart(string Title, string XLabel, string YLabel, List<string> Categories, List<ResultSeries> Series, bool Line);

/// <summary>One series of a <see cref="ResultChart"/>.</summary>
/// <param name="Name">Legend text.</param>
/// <param name="Values">One value per category; NaN where there is none.</param>
/// <param name="Dashed">A reference line (a target, equality) rather than a measurement.</param>
internal sealed record ResultSeries(string Name, List<double> Values, bool Dashed = false);

/// <summary>Reads and writes <see cref="RunnerResults"/> files.</summary>
internal static class RunnerResultsFile
{
    /// <summary>Writes <paramref name="results"/> to <paramref name="path"/>.</summary>
    public static async Task WriteAsync(string path, RunnerResults results)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null)
        {
            Directory.CreateDirectory(folder);
        }
        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(results, RunnerResultsJson.Default.RunnerResults)).ConfigureAwait(false);
    }

    /// <summary>Reads the results at <paramref name="path"/>.</summary>
    /// <exception cref="JsonException">The file is not a results file.</exception>
    public static async Task<RunnerResults> ReadAsync(string path, CancellationToken cancellationToken)
    {
        string text = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        return JsonSerializer.Deserialize(text, RunnerResultsJson.Default.RunnerResults) ?? throw new JsonException($"{path} holds no results.");
    }
}

/// <summary>Source-generated serialisation of the results (NaN chart values allowed).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(RunnerResults))]
internal sealed partial class RunnerResultsJson : JsonSerializerContext;
