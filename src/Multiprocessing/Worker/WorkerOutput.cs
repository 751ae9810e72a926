using Microsoft.Extensions.Logging;

namespace Multiprocessing.Worker;

/// <summary>
/// Carries what a worker writes to its stdout and stderr to the pool's logger or, without one, to
/// this process's console, each line prefixed with the worker's process id; and keeps the last
/// lines of its error output so that a crash report can say what the worker printed as it died
/// (a stack overflow, a fatal error).
/// </summary>
/// <remarks>
/// Lines are handed on as the reader threads receive them, never buffered here beyond the line being
/// read (at most <see cref="MaxLine"/> characters of it), so a worker that
/// crashes loses nothing it managed to write: the readers deliver the last, unterminated line at
/// end of file, and the pool waits for them to drain (<see cref="WaitForDrain"/>) before it
/// reports the crash. Each pipe is read by a thread of its own with blocking reads rather than
/// asynchronously, which would start the socket engine and the thread pool in a fresh parent
/// (milliseconds that a first pool's workers wait for) and make worker output wait behind a busy
/// thread pool.
/// </remarks>
internal sealed class WorkerOutput
{
    private const int KeptLines = 400;

    /// <summary>Most characters of error output kept for crash reports, whatever the lines' lengths.</summary>
    private const int KeptChars = 256 * 1024;

    /// <summary>
    /// Longest piece of a line handed on: output without newlines (a progress bar, a binary dump)
    /// would otherwise grow one line in this process without bound, and reach nobody until the worker
    /// ended. A longer line goes out in pieces, each but the last marked with <see cref="ContinuedMark"/>.
    /// </summary>
    public const int MaxLine = 64 * 1024;

    /// <summary>Most characters of one line in <see cref="RecentErrors"/>: its end.</summary>
    private const int MaxExcerptLine = 1024;

    /// <summary>Ends a piece of a line longer than <see cref="MaxLine"/>: the line goes on in the next piece.</summary>
    public const string ContinuedMark = " [continued]";

    private readonly Queue<string> _recentErrors = new();
    private int _recentChars;
    private readonly Lock _lock = new();
    private readonly string _prefix;
    private readonly int _processId;
    private readonly ILogger? _logger;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _openStreams = 2;

    private WorkerOutput(int processId, ILogger? logger)
    {
        _processId = processId;
        _prefix = $"[worker {processId}] ";
        _logger = logger;
    }

    /// <summary>Starts forwarding what process <paramref name="processId"/> writes to the pipes <paramref name="standardOutput"/> and <paramref name="standardError"/> (read ends; disposed at their end).</summary>
    public static WorkerOutput Attach(int processId, Stream standardOutput, Stream standardError, ILogger? logger = null)
    {
        var output = new WorkerOutput(processId, logger);
        output.Pump(standardOutput, error: false);
        output.Pump(standardError, error: true);
        return output;
    }

    /// <summary>Completes once both pipes reached end of file: every line the worker wrote has been handed on.</summary>
    public Task Drained => _drained.Task;

    /// <summary>
    /// How long a report of the worker's end (exit code, crash, failed start) waits for its last
    /// lines: they are usually there at once, but a grandchild that inherited the pipes can hold
    /// them open for ever.
    /// </summary>
    public static readonly TimeSpan DrainBound = TimeSpan.FromSeconds(1);

    /// <summary>Waits up to <paramref name="timeout"/> (a report: <see cref="DrainBound"/>) for <see cref="Drained"/>; false if the pipes are still open.</summary>
    public bool WaitForDrain(TimeSpan timeout) => _drained.Task.Wait(timeout);

    /// <summary>Waits up to <see cref="DrainBound"/> for <see cref="Drained"/>; false if the pipes are still open.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    public async Task<bool> WaitForDrainAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await _drained.Task.WaitAsync(DrainBound, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private void Pump(Stream stream, bool error)
    {
        new Thread(() =>
        {
            try
            {
                ReadLines(stream, error);
            }
            finally
            {
                stream.Dispose();
                if (Interlocked.Decrement(ref _openStreams) == 0)
                {
                    _drained.TrySetResult();
                }
            }
        })
        { IsBackground = true, Name = $"mp {(error ? "stderr" : "stdout")} {_processId}" }.Start();
    }

    private void ReadLines(Stream stream, bool error)
    {
        byte[] bytes = new byte[4096];
        char[] chars = new char[System.Text.Encoding.UTF8.GetMaxCharCount(bytes.Length)];
        System.Text.Decoder decoder = System.Text.Encoding.UTF8.GetDecoder();
        var line = new System.Text.StringBuilder();
        while (true)
        {
            int read;
            try
            {
                read = stream.Read(bytes, 0, bytes.Length);
            }
            catch (IOException)
            {
                read = 0;
            }
            int count = decoder.GetChars(bytes, 0, read, chars, 0, flush: read == 0);
            for (int i = 0; i < count; i++)
            {
                if (chars[i] == '\n')
                {
                    if (line.Length > 0 && line[^1] == '\r')
                    {
                        line.Length--;
                    }
                    Deliver(line.ToString(), error);
                    line.Clear();
                }
                else
                {
                    line.Append(chars[i]);
                    if (line.Length >= MaxLine)
                    {
                        Deliver(line.Append(ContinuedMark).ToString(), error);
                        line.Clear();
                    }
                }
            }
            if (read == 0)
            {
                if (line.Length > 0)
                {
                    Deliver(line.ToString(), error);
                }
                return;
            }
        }
    }

    private void Deliver(string text, bool error)
    {
        if (error)
        {
            lock (_lock)
            {
                _recentErrors.Enqueue(text);
                _recentChars += text.Length;
                while (_recentErrors.Count > KeptLines || (_recentChars > KeptChars && _recentErrors.Count > 1))
                {
                    _recentChars -= _recentErrors.Dequeue().Length;
                }
            }
        }
        if (_logger is { } log)
        {
            if (error)
            {
                WorkerOutputLog.WorkerStandardError(log, _processId, text);
            }
            else
            {
                WorkerOutputLog.WorkerStandardOutput(log, _processId, text);
            }
        }
        else if (error)
        {
            Console.Error.WriteLine(_prefix + text);
        }
        else
        {
            Console.Out.WriteLine(_prefix + text);
        }
    }

    // How the runtime starts the report it prints as a process dies.
    private static readonly string[] s_crashHeaders = ["Stack overflow", "Unhandled exception", "Fatal error", "Process terminated", "Out of memory"];

    /// <summary>
    /// The last lines the worker wrote to stderr, for a crash report; empty if it wrote none. When
    /// the runtime printed a crash report (a stack overflow, an unhandled exception), the excerpt
    /// starts at its first line, however long the stack below it.
    /// </summary>
    public string RecentErrors(int maxLines = 12)
    {
        lock (_lock)
        {
            string[] lines = _recentErrors.Where(l => !string.IsNullOrWhiteSpace(l)).ToArray();
            int header = Array.FindLastIndex(lines, l => s_crashHeaders.Any(h => l.StartsWith(h, StringComparison.Ordinal)));
            IEnumerable<string> excerpt = header >= 0 ? lines.Skip(header).Take(maxLines) : lines.TakeLast(maxLines);
            // A line's end says most (where the output stopped); a crash report is no place for a megabyte of it.
            return string.Join(Environment.NewLine, excerpt.Select(l => l.Length <= MaxExcerptLine ? l : string.Concat("...", l.AsSpan(l.Length - MaxExcerptLine))));
        }
    }
}
