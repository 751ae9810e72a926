using System.Text.RegularExpressions;
using Multiprocessing.Benchmarks.Results;
using Multiprocessing.Cli.Output;

namespace Multiprocessing.Cli.Bench;

/// <summary>
/// Turns what a benchmark mode measured (its <see cref="RunnerResults"/>, read from the JSON file it
/// wrote for <c>mp bench</c>) into the group's rows, notes and chart, and adds the hand-written
/// explanations of its gaps from docs/benchmarks/*-gaps.md.
/// </summary>
internal static partial class RunnerResultReader
{
    /// <summary>Fills <paramref name="group"/> from <paramref name="results"/>.</summary>
    public static void Apply(GroupResult group, RunnerResults results)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(results);
        foreach (ResultRow r in results.Rows)
        {
            group.Rows.Add(new BenchRow(r.Id, r.Measure, r.Ours, r.Peer, r.PeerFigure, r.Ratio, r.RatioValue ?? double.NaN, r.Target, r.Met));
        }
        group.Notes.AddRange(results.Notes);
        if (results.Rows.Count == 0)
        {
            group.Notes.Add("The mode reported no comparisons; see its full report.");
        }
        if (results.HandWrittenNotes.Length > 0)
        {
            group.GapExplanations[""] = Shorten(results.HandWrittenNotes, 1100);
        }
        group.Chart = results.Chart is { } chart
            ? new BenchChart(chart.Title, chart.XLabel, chart.YLabel, chart.Categories, [.. chart.Series.Select(s => new SvgSeries(s.Name, [.. s.Values], s.Dashed))], chart.Line)
            : RatioChart(group);
    }

    /// <summary>Ours ÷ peer of the rows that have a ratio (the pool: those with a DESIGN target), beside the 1× line.</summary>
    private static BenchChart? RatioChart(GroupResult group)
    {
        (string title, string xLabel, bool targetsOnly) = group.Name switch
        {
            "pool" => ("Process pool: ours ÷ peer (medians), rows with a DESIGN target", "row of the table and peer (CPython fork / spawn Pool, C pipe floor)", true),
            "locks" => ("SharedLock: ours ÷ peer (medians)", "measurement and peer (C futex floor or CPython Lock)", false),
            _ => ($"{group.Name}: ours ÷ peer (medians)", "measurement and peer", false),
        };
        BenchRow[] charted = [.. group.Rows.Where(r => (!targetsOnly || r.Target.Length > 0) && double.IsFinite(r.RatioValue))];
        return charted.Length == 0 ? null : new BenchChart(title, xLabel, "ours ÷ peer", Labels(charted),
            [new SvgSeries("ours ÷ peer", [.. charted.Select(r => r.RatioValue)]), new SvgSeries("1× (equal)", [.. charted.Select(_ => 1.0)], Dashed: true)]);
    }

    /// <summary>Paragraphs of a hand-written gaps page (<c>## (b) …</c> headings), keyed by the id in the heading's parentheses.</summary>
    public static void ReadGapsPage(GroupResult group, string path, string link)
    {
        if (!File.Exists(path))
        {
            return;
        }
        string? key = null;
        var text = new System.Text.StringBuilder();
        void Flush()
        {
            if (key is not null && text.Length > 0)
            {
                group.GapExplanations[key] = $"{Shorten(text.ToString().Trim(), 1100)} (from [{Path.GetFileName(path)}]({link}), written by hand)";
            }
            text.Clear();
        }
        foreach (string raw in File.ReadLines(path))
        {
            string line = raw.Trim();
            if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                Flush();
                Match id = HeadingId().Match(line);
                key = id.Success ? id.Groups["id"].Value : null;
                continue;
            }
            if (key is null)
            {
                continue;
            }
            // The section's prose and list items (its tables and sub-headings are left out: the suite's row has the figures).
            if (line.Length > 0 && !line.StartsWith('|') && !line.StartsWith('#'))
            {
                text.Append(line).Append(' ');
            }
        }
        Flush();
    }

    /// <summary>At most <paramref name="max"/> characters, cut after the last full sentence that fits.</summary>
    private static string Shorten(string text, int max)
    {
        if (text.Length <= max)
        {
            return text;
        }
        int cut = text.LastIndexOf(". ", max, StringComparison.Ordinal);
        return (cut > max / 2 ? text[..(cut + 1)] : text[..max]) + " …";
    }

    private static string ShortPeer(string peer)
    {
        string p = peer.Replace("`", "", StringComparison.Ordinal);
        return p.Contains("pipe", StringComparison.OrdinalIgnoreCase) ? "C pipe"
            : p.Contains("futex", StringComparison.OrdinalIgnoreCase) ? "C futex"
            : p.Contains("spawn", StringComparison.OrdinalIgnoreCase) ? "spawn"
            : p.Contains("fork", StringComparison.OrdinalIgnoreCase) ? "fork"
            : p.Contains("CPython", StringComparison.OrdinalIgnoreCase) ? "CPython"
            : p.Length > 10 ? p[..10] : p;
    }

    /// <summary>Short chart labels, numbered where two would read the same.</summary>
    private static string[] Labels(IEnumerable<BenchRow> rows)
    {
        string[] labels = [.. rows.Select(r => $"{r.Id} {ShortPeer(r.Peer)}{(r.Measure.Contains("p99", StringComparison.Ordinal) ? " p99" : "")}")];
        for (int i = 0; i < labels.Length; i++)
        {
            int seen = labels.Take(i).Count(l => l == labels[i] || l.StartsWith(labels[i] + " #", StringComparison.Ordinal));
            if (seen > 0)
            {
                labels[i] += $" #{seen + 1}";
            }
        }
        return labels;
    }

    /// <summary>The row a gaps-page section explains: "(a')" for a pool row, "(order-json)" for the channel rows of that payload.</summary>
    [GeneratedRegex(@"\((?<id>[a-z0-9]+(?:-[a-z0-9]+)*'?)\)")]
    private static partial Regex HeadingId();
}
