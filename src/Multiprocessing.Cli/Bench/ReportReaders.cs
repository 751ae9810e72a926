using System.Globalization;
using System.Text.RegularExpressions;
using Multiprocessing.Cli.Output;

namespace Multiprocessing.Cli.Bench;

/// <summary>
/// Turns each benchmark mode's markdown report into the suite's rows. Each reader looks columns up
/// by their header text, so a reworded column shows as "n/a" rather than a wrong figure; a table it
/// cannot find is reported as a note.
/// </summary>
internal static partial class ReportReaders
{
    private const string ConstantTimeTarget = "constant time, independent of size";

    /// <summary>The pool side-by-side report (<c>sidebyside</c>): its main table already has ours, the peer, the ratio, the target and whether it is met.</summary>
    public static void ReadPool(GroupResult group)
    {
        MarkdownTable? table = MarkdownTable.Parse(group.RawReport).FirstOrDefault(t => t.Column("Ours ÷ peer") >= 0);
        if (table is null)
        {
            group.Notes.Add("The pool report has no comparison table (a column \"Ours ÷ peer\"); see its full report.");
            return;
        }
        int id = 0, measure = table.Column("Measure"), ours = table.Column("Ours"), peer = IndexExactly(table, "Peer"), figure = table.Column("Peer figure"),
            ratio = table.Column("Ours ÷ peer"), target = table.Column("Target"), met = table.Column("Met");
        foreach (IReadOnlyList<string> row in table.Rows)
        {
            group.Rows.Add(new BenchRow(Cell(row, id), Cell(row, measure), Cell(row, ours), Cell(row, peer), Cell(row, figure), Cell(row, ratio),
                Cell(row, target), BenchText.Plain(Cell(row, met))));
        }
        BenchRow[] charted = [.. group.Rows.Where(r => r.Target.Length > 0 && double.IsFinite(r.RatioValue))];
        if (charted.Length > 0)
        {
            group.Chart = new BenchChart("Process pool: ours ÷ peer (medians), rows with a DESIGN target", "row of the table and peer (CPython fork / spawn Pool, C pipe floor)", "ours ÷ peer",
                Labels(charted),
                [new SvgSeries("ours ÷ peer", [.. charted.Select(r => r.RatioValue)]), new SvgSeries("1× (equal)", [.. charted.Select(_ => 1.0)], Dashed: true)]);
        }
    }

    /// <summary>The shared-memory report (<c>sharedmem</c>): hand-off times (1a, 1b), the constant-time check (1d), and total PSS against its bound (2a, 2b).</summary>
    public static void ReadSharedMemory(GroupResult group)
    {
        IReadOnlyList<MarkdownTable> tables = MarkdownTable.Parse(group.RawReport);
        MarkdownTable? descriptor = tables.FirstOrDefault(t => t.Heading.StartsWith("1a", StringComparison.Ordinal));
        MarkdownTable? copied = tables.FirstOrDefault(t => t.Heading.StartsWith("1b", StringComparison.Ordinal));
        MarkdownTable? constant = tables.FirstOrDefault(t => t.Heading.StartsWith("1d", StringComparison.Ordinal));
        MarkdownTable? totals = tables.FirstOrDefault(t => t.Heading.StartsWith("2a", StringComparison.Ordinal));
        MarkdownTable? bound = tables.FirstOrDefault(t => t.Heading.StartsWith("2b", StringComparison.Ordinal));
        if (descriptor is not null)
        {
            foreach (IReadOnlyList<string> row in descriptor.Rows)
            {
                group.Rows.Add(new BenchRow("1a", $"Hand a {row[0]} `SharedArray<double>` to a task, touch one element: first call (worker maps it), round trip (ms)",
                    Cell(row, descriptor.Column("first call (worker")), "CPython `shared_memory` by name, first call", Cell(row, descriptor.Column("CPython `shared_memory`, first")),
                    Cell(row, descriptor.Column("÷ CPython, first")), "", ""));
                group.Rows.Add(new BenchRow("1a", $"The same, later calls (already mapped) (ms)",
                    Cell(row, descriptor.Column("Ours, later")), "CPython `shared_memory`, later calls (attach + close each)", Cell(row, descriptor.Column("CPython, later")),
                    Cell(row, descriptor.Column("÷ CPython, later")), "", ""));
            }
        }
        if (copied is not null)
        {
            foreach (IReadOnlyList<string> row in copied.Rows)
            {
                group.Rows.Add(new BenchRow("1b", $"Hand a {row[0]} `double[]` to a task (serialised into the message), later calls (ms)",
                    Cell(row, copied.Column("Ours, later")), "CPython pickled numpy array, later calls", Cell(row, copied.Column("CPython, later")),
                    Cell(row, copied.Column("÷ CPython, later")), "", ""));
            }
        }
        if (constant is not null)
        {
            string sizes = constant.Header.Count > 1 ? string.Join(", ", constant.Header.Skip(1).Where(h => h.Contains('÷', StringComparison.Ordinal))) : "";
            int metColumn = constant.Column("Met");
            foreach (IReadOnlyList<string> row in constant.Rows.Where(r => Cell(r, metColumn).Length > 0))
            {
                string series = row[0];
                IReadOnlyList<string>? cpython = constant.Rows.FirstOrDefault(r => r[0].StartsWith("CPython `shared_memory`", StringComparison.Ordinal) &&
                    r[0].EndsWith(series[(series.IndexOf(',', StringComparison.Ordinal) + 1)..], StringComparison.Ordinal));
                string ratios = string.Join("; ", row.Skip(1).Take(row.Count - 2));
                group.Rows.Add(new BenchRow("1d", $"{series}: time at the larger size ÷ time at the smallest ({sizes})",
                    ratios, cpython is null ? "" : cpython[0], cpython is null ? "" : string.Join("; ", cpython.Skip(1).Take(cpython.Count - 2)), "",
                    ConstantTimeTarget + " (report: ratio ≤ 1.5)", BenchText.Plain(Cell(row, metColumn))));
            }
        }
        string data = DatasetSize().Match(group.RawReport) is { Success: true } m ? m.Groups["size"].Value : "the dataset";
        if (bound is not null)
        {
            int n = bound.Column("N"), oursTotal = bound.Column("Ours shared: total"), boundColumn = IndexExactly(bound, "Bound (MiB)"), met = IndexExactly(bound, "Met"),
                metWithout = bound.Column("Met without"), pyTotal = bound.Column("CPython `shared_memory` total"), idle = bound.Column("Idle worker PSS, ours");
            foreach (IReadOnlyList<string> row in bound.Rows)
            {
                string ours = Cell(row, oursTotal), py = Cell(row, pyTotal);
                string verdict = BenchText.Plain(Cell(row, met));
                string without = BenchText.Plain(Cell(row, metWithout));
                if (!verdict.Equals("yes", StringComparison.OrdinalIgnoreCase) && without.Length > 0)
                {
                    verdict += $" ({without} without the parent's own pre-data PSS)";
                }
                group.Rows.Add(new BenchRow($"2b N={Cell(row, n)}", $"{Cell(row, n)} worker(s) each reading one shared {data} `SharedArray`: total PSS, parent + workers (MiB)",
                    ours, "CPython `shared_memory`, same layout", py, RatioOf(ours, py),
                    $"≤ {data} + N × idle worker PSS ({Cell(row, idle)} MiB) + 5 % = {Cell(row, boundColumn)} MiB", verdict));
            }
        }
        if (totals is not null)
        {
            int n = totals.Column("N"), shared = totals.Column("Ours: one"), perWorker = totals.Column("Ours: a `double[]`");
            foreach (IReadOnlyList<string> row in totals.Rows)
            {
                group.Rows.Add(new BenchRow($"2a N={Cell(row, n)}", $"{Cell(row, n)} worker(s) each loading its own {data} copy: total PSS (MiB)",
                    Cell(row, perWorker), "ours, one shared `SharedArray` (above)", Cell(row, shared), RatioOf(Cell(row, perWorker), Cell(row, shared)), "", ""));
            }
            string[] categories = [.. totals.Rows.Select(r => Cell(r, n))];
            var series = new List<SvgSeries>();
            for (int c = 1; c < totals.Header.Count; c++)
            {
                if (totals.Header[c].Contains('÷', StringComparison.Ordinal))
                {
                    continue;
                }
                series.Add(new SvgSeries(totals.Header[c].Replace("`", "", StringComparison.Ordinal), [.. totals.Rows.Select(r => BenchText.LeadingNumber(Cell(r, c)))]));
            }
            if (categories.Length > 0 && series.Count > 0)
            {
                group.Chart = new BenchChart($"Total PSS of N workers each reading a {data} dataset", "workers (N)", "total PSS, parent + workers (MiB)", categories, series, Line: true);
            }
        }
        if (group.Rows.Count == 0)
        {
            group.Notes.Add("The shared-memory report has none of the tables 1a, 1b, 1d, 2a, 2b; see its full report.");
        }
        string notes = NotesBelowMarker(group.RawReport);
        if (notes.Length > 0)
        {
            group.GapExplanations[""] = notes;
        }
    }

    /// <summary>The lock report (<c>locks</c>): contended hand-off against the C futex floor and CPython, and the uncontended cost.</summary>
    public static void ReadLocks(GroupResult group)
    {
        IReadOnlyList<MarkdownTable> tables = MarkdownTable.Parse(group.RawReport);
        MarkdownTable? handoff = tables.FirstOrDefault(t => t.Column("SharedLock p50") >= 0);
        MarkdownTable? uncontended = tables.FirstOrDefault(t => t.Column("Acquire().Dispose()") >= 0);
        if (handoff is not null)
        {
            int ours = handoff.Column("SharedLock p50"), c = handoff.Column("C futex ping-pong p50"), py = handoff.Column("CPython Lock p50"),
                oursC = handoff.Column("ours / C"), oursPy = handoff.Column("ours / CPython"), ours99 = handoff.Column("SharedLock p99"), c99 = IndexExactly(handoff, "C p99");
            foreach (IReadOnlyList<string> row in handoff.Rows)
            {
                string mode = row[0];
                string ratio = Cell(row, oursC);
                double value = BenchText.LeadingNumber(ratio);
                group.Rows.Add(new BenchRow(mode, $"Contended `SharedLock` hand-off round trip between two processes, {mode}, p50 (µs)",
                    Cell(row, ours), "C futex ping-pong p50 (floor)", Cell(row, c), ratio, "≤ 2× the C futex ping-pong",
                    double.IsFinite(value) ? (value <= 2 ? "yes" : "no") : "n/a"));
                group.Rows.Add(new BenchRow(mode, $"The same, p50 (µs)", Cell(row, ours), "CPython `multiprocessing.Lock` p50", Cell(row, py), Cell(row, oursPy), "", ""));
                group.Rows.Add(new BenchRow(mode, $"The same, p99 (µs)", Cell(row, ours99), "C futex ping-pong p99", Cell(row, c99), RatioOf(Cell(row, ours99), Cell(row, c99)), "", ""));
            }
        }
        if (uncontended is not null && uncontended.Rows.Count > 0)
        {
            IReadOnlyList<string> row = uncontended.Rows[0];
            string ours = Cell(row, 0), py = Cell(row, 1);
            group.Rows.Add(new BenchRow("uncontended", "Uncontended acquire + release in one process (ns per pair)", ours, "CPython `lock.acquire(); lock.release()`", py,
                RatioOf(ours, py), "no system call", "not checked by timing (see the lock tests and the group's report)"));
        }
        if (handoff is null && uncontended is null)
        {
            group.Notes.Add("The lock report has neither of its tables (hand-off, uncontended); see its full report.");
        }
        BenchRow[] charted = [.. group.Rows.Where(r => double.IsFinite(r.RatioValue))];
        if (charted.Length > 0)
        {
            group.Chart = new BenchChart("SharedLock: ours ÷ peer (medians)", "measurement and peer (C futex floor or CPython Lock)", "ours ÷ peer",
                Labels(charted),
                [new SvgSeries("ours ÷ peer", [.. charted.Select(r => r.RatioValue)]), new SvgSeries("1× (equal)", [.. charted.Select(_ => 1.0)], Dashed: true)]);
        }
    }

    /// <summary>The channel report (<c>channels</c>): its DESIGN-target table (small messages against CPython's Queue) and the rows it compares with the C ring floor.</summary>
    public static void ReadChannels(GroupResult group)
    {
        IReadOnlyList<MarkdownTable> tables = MarkdownTable.Parse(group.RawReport);
        MarkdownTable? target = tables.FirstOrDefault(t => t.Heading.StartsWith("DESIGN target", StringComparison.OrdinalIgnoreCase) && t.Column("Met") >= 0);
        if (target is null)
        {
            ReadGeneric(group);
            return;
        }
        Match goal = TargetRatio().Match(target.Heading);
        string targetText = goal.Success ? $"≥ {goal.Groups["x"].Value}× CPython `multiprocessing.Queue`" : target.Heading;
        int cell = target.Column("Cell"), impl = target.Column("Ours ("), ours = target.Column("Ours msgs/s"), queue = target.Column("CPython Queue"),
            ratio = target.Column("Ratio"), met = IndexExactly(target, "Met");
        foreach (IReadOnlyList<string> row in target.Rows)
        {
            group.Rows.Add(new BenchRow(Cell(row, cell), $"Small messages through a `SharedChannel`, {Cell(row, cell)} ({BenchText.Plain(Cell(row, impl))}), msgs/s (median)",
                Cell(row, ours), "CPython `multiprocessing.Queue`", Cell(row, queue), Cell(row, ratio), targetText, BenchText.Plain(Cell(row, met))));
        }
        foreach (MarkdownTable table in tables.Where(t => t.Column("÷ C floor") >= 0))
        {
            int floor = table.Column("÷ C floor"), payload = table.Column("Payload"), implementation = table.Column("Implementation"), rate = table.Column("msgs/s");
            IReadOnlyList<string>? floorRow = table.Rows.FirstOrDefault(r => Cell(r, implementation).StartsWith("C ", StringComparison.Ordinal) && Cell(r, implementation).Contains("futex", StringComparison.Ordinal));
            foreach (IReadOnlyList<string> row in table.Rows.Where(r => Cell(r, floor).Length > 0 && Cell(r, implementation).Contains("ours", StringComparison.OrdinalIgnoreCase)))
            {
                group.Rows.Add(new BenchRow(table.Heading, $"{BenchText.Plain(Cell(row, implementation))}, {Cell(row, payload)} payload, {table.Heading} (msgs/s)", Cell(row, rate),
                    floorRow is null ? "C shared-memory ring floor (futex)" : $"{Cell(floorRow, implementation)}, {Cell(floorRow, payload)}", floorRow is null ? "n/a" : Cell(floorRow, rate),
                    floorRow is null ? Cell(row, floor) : RatioOf(Cell(row, rate), Cell(floorRow, rate)), "", ""));
            }
        }
        BenchRow[] charted = [.. group.Rows.Where(r => r.Target.Length > 0 && double.IsFinite(r.RatioValue))];
        if (charted.Length > 0)
        {
            double goalValue = goal.Success ? double.Parse(goal.Groups["x"].Value, CultureInfo.InvariantCulture) : double.NaN;
            var series = new List<SvgSeries> { new("ours ÷ CPython Queue", [.. charted.Select(r => r.RatioValue)]) };
            if (double.IsFinite(goalValue))
            {
                series.Add(new SvgSeries("DESIGN target", [.. charted.Select(_ => goalValue)], Dashed: true));
            }
            group.Chart = new BenchChart("SharedChannel small messages: ours ÷ CPython Queue (medians)", "payload, producers → consumers", "ours ÷ CPython Queue", [.. charted.Select(r => r.Id)], series);
        }
    }

    /// <summary>
    /// A report this suite has no dedicated reader for (yet): its comparison tables (those with a
    /// ratio or a "Met" column) are copied as they are, and any row whose "Met" cell says no is an open gap.
    /// </summary>
    public static void ReadGeneric(GroupResult group)
    {
        foreach (MarkdownTable table in MarkdownTable.Parse(group.RawReport))
        {
            bool comparison = table.Header.Any(h => h.Contains('÷', StringComparison.Ordinal) || h.Contains(" / ", StringComparison.Ordinal) ||
                h.Contains("ratio", StringComparison.OrdinalIgnoreCase) || h.Equals("Met", StringComparison.OrdinalIgnoreCase) || h.Contains(" vs ", StringComparison.OrdinalIgnoreCase));
            if (!comparison || table.Heading.Contains("every", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            group.CopiedTables.Add(table);
            int met = IndexExactly(table, "Met");
            foreach (IReadOnlyList<string> row in table.Rows.Where(r => BenchText.Plain(Cell(r, met)).StartsWith("no", StringComparison.OrdinalIgnoreCase)))
            {
                group.Rows.Add(new BenchRow(table.Heading, string.Join(" | ", row), "", "", "", "", "(as in the group's report)", "no"));
            }
        }
        group.Notes.Add("`mp bench` has no dedicated reader for this group's report yet: its comparison tables are copied below as the group wrote them, and its DESIGN target is not checked here.");
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

    private static string NotesBelowMarker(string report)
    {
        const string marker = "<!-- Hand-written notes below this line";
        int at = report.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0)
        {
            return "";
        }
        int end = report.IndexOf("-->", at, StringComparison.Ordinal);
        return end < 0 ? "" : Shorten(report[(end + 3)..].Trim(), 1100);
    }

    private static string RatioOf(string ours, string peer)
    {
        double o = BenchText.LeadingNumber(ours), p = BenchText.LeadingNumber(peer);
        if (!double.IsFinite(o) || !double.IsFinite(p) || p == 0)
        {
            return "n/a";
        }
        double ratio = o / p;
        return ratio.ToString(ratio >= 0.1 ? "0.00" : "0.0000", CultureInfo.InvariantCulture) + "×";
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

    private static string Cell(IReadOnlyList<string> row, int column) => MarkdownTable.Cell(row, column);

    private static int IndexExactly(MarkdownTable table, string header)
    {
        for (int i = 0; i < table.Header.Count; i++)
        {
            if (table.Header[i].Equals(header, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }
        return -1;
    }

    [GeneratedRegex(@"each reading every element of a (?<size>\d+(\.\d+)? [KMGT]iB) dataset")]
    private static partial Regex DatasetSize();

    [GeneratedRegex(@"≥ (?<x>\d+(\.\d+)?)×")]
    private static partial Regex TargetRatio();

    /// <summary>The row a gaps-page section explains: "(a')" for a pool row, "(order-json)" for the channel rows of that payload.</summary>
    [GeneratedRegex(@"\((?<id>[a-z0-9]+(?:-[a-z0-9]+)*'?)\)")]
    private static partial Regex HeadingId();
}
