namespace Multiprocessing.Cli.Bench;

/// <summary>
/// One pipe table read back from a benchmark runner's markdown report, with the heading it sits
/// under. <c>mp bench</c> reads the runners' reports this way because that is the one output all
/// of them share; the runners that print JSON are read through their JSON instead.
/// </summary>
/// <param name="Heading">The nearest heading above the table, without its #s; empty if none.</param>
/// <param name="Header">The header cells.</param>
/// <param name="Rows">The body rows; a short row is padded with empty cells.</param>
internal sealed record MarkdownTable(string Heading, IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<string>> Rows)
{
    /// <summary>Index of the first header cell that contains <paramref name="text"/> (ordinal, ignoring case), or -1.</summary>
    public int Column(string text)
    {
        for (int i = 0; i < Header.Count; i++)
        {
            if (Header[i].Contains(text, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>The cell, or "" when the column is -1 or beyond the row.</summary>
    public static string Cell(IReadOnlyList<string> row, int column) =>
        column >= 0 && column < row.Count ? row[column] : "";

    /// <summary>Every pipe table of <paramref name="markdown"/>, in order.</summary>
    public static IReadOnlyList<MarkdownTable> Parse(string markdown)
    {
        ArgumentNullException.ThrowIfNull(markdown);
        string[] lines = markdown.ReplaceLineEndings("\n").Split('\n');
        var tables = new List<MarkdownTable>();
        string heading = "";
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line.StartsWith('#'))
            {
                heading = line.TrimStart('#').Trim();
                continue;
            }
            if (!IsRow(line) || i + 1 >= lines.Length || !IsSeparator(lines[i + 1].Trim()))
            {
                continue;
            }
            IReadOnlyList<string> header = Cells(line);
            var rows = new List<IReadOnlyList<string>>();
            int j = i + 2;
            for (; j < lines.Length && IsRow(lines[j].Trim()); j++)
            {
                List<string> cells = Cells(lines[j].Trim());
                while (cells.Count < header.Count)
                {
                    cells.Add("");
                }
                rows.Add(cells);
            }
            tables.Add(new MarkdownTable(heading, header, rows));
            i = j - 1;
        }
        return tables;
    }

    private static bool IsRow(string line) => line.Length > 1 && line[0] == '|' && line[^1] == '|';

    private static bool IsSeparator(string line) =>
        IsRow(line) && line.All(c => c is '|' or '-' or ':' or ' ') && line.Contains('-', StringComparison.Ordinal);

    private static List<string> Cells(string line)
    {
        // Split on pipes that are not escaped (\|) and not inside `code`.
        var cells = new List<string>();
        var current = new System.Text.StringBuilder();
        bool code = false;
        for (int i = 1; i < line.Length - 1; i++)
        {
            char c = line[i];
            if (c == '`')
            {
                code = !code;
            }
            if (c == '\\' && i + 1 < line.Length - 1 && line[i + 1] == '|')
            {
                current.Append("\\|");
                i++;
                continue;
            }
            if (c == '|' && !code)
            {
                cells.Add(current.ToString().Trim());
                current.Clear();
                continue;
            }
            current.Append(c);
        }
        cells.Add(current.ToString().Trim());
        return cells;
    }
}
