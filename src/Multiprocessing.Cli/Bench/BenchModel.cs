namespace Multiprocessing.Cli.Bench;

/// <summary>
/// One comparison in the suite's report: our figure beside one peer's, the ratio, and the
/// DESIGN.md section 5 target where one applies. Figures are kept as the text the group's own
/// report gave them ("median [min – max]"), so nothing is rounded twice; the ratio also as a number.
/// </summary>
/// <param name="Id">Short key of the workload within its group, such as "(b)" or "2b N=2".</param>
/// <param name="Measure">What was measured, with its unit.</param>
/// <param name="Ours">Our figure: median [min – max].</param>
/// <param name="Peer">Who the peer is (CPython …, the C floor …).</param>
/// <param name="PeerFigure">The peer's figure: median [min – max], or n/a / peer missing.</param>
/// <param name="Ratio">Ours ÷ peer of the medians, with the per-round range where the group reports one.</param>
/// <param name="RatioValue">Ours ÷ peer of the medians as a number, or NaN when there is none.</param>
/// <param name="Target">The DESIGN.md section 5 target of this row; empty when the row has none.</param>
/// <param name="Met">"yes", "no", "partly: …" or "n/a"; empty when the row has no target.</param>
internal sealed record BenchRow(string Id, string Measure, string Ours, string Peer, string PeerFigure, string Ratio, double RatioValue, string Target, string Met)
{
    /// <summary>Whether the row has a target that was not met, or met only in some runs ("no", "no (…)", "2 of 3 runs", "partly …").</summary>
    public bool IsGap
    {
        get
        {
            if (Target.Length == 0)
            {
                return false;
            }
            string met = Met.Trim();
            return met.Equals("no", StringComparison.OrdinalIgnoreCase) || met.StartsWith("no ", StringComparison.OrdinalIgnoreCase)
                || met.StartsWith("partly", StringComparison.OrdinalIgnoreCase) || met.EndsWith(" runs", StringComparison.Ordinal);
        }
    }
}

/// <summary>How a group ended.</summary>
internal enum GroupStatus
{
    /// <summary>It ran and its figures are in the report.</summary>
    Measured,

    /// <summary>The benchmark runner has no such mode yet (in this checkout).</summary>
    NotAvailable,

    /// <summary>Left out with --only.</summary>
    Skipped,

    /// <summary>It ran and failed (exit code, time-out, unreadable report).</summary>
    Failed,
}

/// <summary>One chart series, ready for <see cref="Output.SvgChart"/>.</summary>
/// <param name="Title">Chart title.</param>
/// <param name="XLabel">X axis label.</param>
/// <param name="YLabel">Y axis label with its unit.</param>
/// <param name="Categories">X categories.</param>
/// <param name="Series">The series, one value per category.</param>
/// <param name="Line">A line chart over the categories rather than grouped bars.</param>
internal sealed record BenchChart(string Title, string XLabel, string YLabel, IReadOnlyList<string> Categories, IReadOnlyList<Output.SvgSeries> Series, bool Line = false);

/// <summary>What one workload group produced.</summary>
internal sealed class GroupResult(string name, string title)
{
    /// <summary>The --only name: pool, sharedmem, locks, channels, cluster, speedup.</summary>
    public string Name { get; } = name;

    /// <summary>Section title in the report.</summary>
    public string Title { get; } = title;

    /// <summary>How it ended.</summary>
    public GroupStatus Status { get; set; } = GroupStatus.Measured;

    /// <summary>Why it was not measured or failed, or what to know about its figures.</summary>
    public List<string> Notes { get; } = [];

    /// <summary>The comparisons.</summary>
    public List<BenchRow> Rows { get; } = [];

    /// <summary>The command that produced the figures.</summary>
    public string Command { get; set; } = "";

    /// <summary>Wall time of the group.</summary>
    public TimeSpan Elapsed { get; set; }

    /// <summary>The group's own full report (its markdown page), as it wrote it, shown at the end of the suite's report.</summary>
    public string RawReport { get; set; } = "";

    /// <summary>Where the group's full report was saved next to the suite's, or null.</summary>
    public string? SavedReport { get; set; }

    /// <summary>The group's chart, if it has figures to draw.</summary>
    public BenchChart? Chart { get; set; }

    /// <summary>The chart file written, relative to the report's folder.</summary>
    public string? ChartFile { get; set; }

    /// <summary>Explanations of shortfalls from the group's own documents, keyed by row id; "" for the group as a whole.</summary>
    public Dictionary<string, string> GapExplanations { get; } = [];
}
