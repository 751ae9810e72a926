namespace Multiprocessing.Cli.Output;

/// <summary>
/// A plain-text table written row by row as results arrive, so a long experiment shows progress.
/// Column widths are fixed up front; a cell wider than its column widens that row only.
/// </summary>
public sealed class TextTable
{
    private readonly TextWriter _writer;
    private readonly (string Header, int Width, bool RightAligned)[] _columns;

    /// <summary>Creates a table.</summary>
    /// <param name="writer">Where rows go.</param>
    /// <param name="columns">Each column's header, minimum width, and whether its cells are right-aligned (numbers).</param>
    public TextTable(TextWriter writer, params (string Header, int Width, bool RightAligned)[] columns)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(columns);
        _writer = writer;
        _columns = [.. columns.Select(c => (c.Header, Math.Max(c.Width, c.Header.Length), c.RightAligned))];
    }

    /// <summary>Writes the header line and a rule under it.</summary>
    /// <returns>A task that completes when they are written.</returns>
    public async Task WriteHeaderAsync()
    {
        await WriteRowAsync([.. _columns.Select(c => c.Header)]).ConfigureAwait(false);
        await WriteRowAsync([.. _columns.Select(c => new string('-', c.Width))]).ConfigureAwait(false);
    }

    /// <summary>Writes one row.</summary>
    /// <param name="cells">One cell per column.</param>
    /// <returns>A task that completes when the row is written.</returns>
    /// <exception cref="ArgumentException">The number of cells differs from the number of columns.</exception>
    public async Task WriteRowAsync(params string[] cells)
    {
        ArgumentNullException.ThrowIfNull(cells);
        if (cells.Length != _columns.Length)
        {
            throw new ArgumentException($"Expected {_columns.Length} cells, got {cells.Length}.", nameof(cells));
        }
        IEnumerable<string> padded = cells.Select((cell, i) => _columns[i].RightAligned ? cell.PadLeft(_columns[i].Width) : cell.PadRight(_columns[i].Width));
        await _writer.WriteLineAsync(string.Join("  ", padded).TrimEnd()).ConfigureAwait(false);
        await _writer.FlushAsync().ConfigureAwait(false);
    }
}
