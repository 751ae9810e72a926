using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Multiprocessing.Worker;

/// <summary>
/// Carries what a worker writes to its stdout and stderr to the pool's logger or, without one, to
/// this process's console, each line prefixed with the worker's process id; and keeps the last
/// lines of its error output so that a crash report can say what the worker printed as it died
/// (a stack overflow, a fatal error).
/// </summary>
/// <remarks>
/// Lines are handed on as the reader threads receive them, never buffered here, so a worker that
/// crashes loses nothing it managed to write: the readers deliver the last, unterminated line at
/// end of file, and the pool waits for them to drain before it reports the crash.
/// </remarks>
internal sealed class WorkerOutput
{
    private const int KeptLines = 400;

    private readonly Queue<string> _recentErrors = new();
    private readonly Lock _lock = new();
    private readonly string _prefix;
    private readonly int _processId;
    private readonly ILogger? _logger;

    private WorkerOutput(int processId, ILogger? logger)
    {
        _processId = processId;
        _prefix = $"[worker {processId}] ";
        _logger = logger;
    }

    public static WorkerOutput Attach(Process process, ILogger? logger = null)
    {
        var output = new WorkerOutput(process.Id, logger);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            if (output._logger is { } log)
            {
                PoolLog.WorkerStandardOutput(log, output._processId, e.Data);
            }
            else
            {
                Console.Out.WriteLine(output._prefix + e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (output._lock)
            {
                output._recentErrors.Enqueue(e.Data);
                if (output._recentErrors.Count > KeptLines)
                {
                    output._recentErrors.Dequeue();
                }
            }
            if (output._logger is { } log)
            {
                PoolLog.WorkerStandardError(log, output._processId, e.Data);
            }
            else
            {
                Console.Error.WriteLine(output._prefix + e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return output;
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
            return string.Join(Environment.NewLine, excerpt);
        }
    }
}
