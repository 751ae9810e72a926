using System.Collections;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using Multiprocessing.Interop;

namespace Multiprocessing.Worker;

/// <summary>
/// A started worker process, and the one place its exit status is read: once, under a lock, and
/// then kept, so that every reader (the connection's reader thread, the start-up wait, the pool's
/// disposal, <see cref="WorkerProcess.ExitCode"/>) sees the same final value.
/// </summary>
/// <remarks>
/// Started with <c>posix_spawn</c> (<see cref="Libc.Spawn"/>) rather than
/// <see cref="System.Diagnostics.Process"/>: that class's first use is the largest single cost
/// between a fresh pool's constructor and its first worker's launch. A thread of its own per
/// child waits for the end without reaping (<c>waitid</c> with <c>WNOWAIT</c>), records the status
/// under <see cref="_lock"/>, and only then reaps. So the pid stays this child's for as long as
/// <see cref="Kill"/> (which takes the same lock and checks that the end was not yet recorded)
/// might signal it: a kill can never reach another process that was given the pid again.
/// </remarks>
internal sealed class ChildProcess : IDisposable
{
    // The watcher only waits and records; its stack needs little.
    private const int WatcherStackSize = 256 * 1024;

    private readonly Lock _lock = new();
    private readonly TaskCompletionSource<int?> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SafeFileHandle? _standardOutput;
    private SafeFileHandle? _standardError;
    private bool _disposed;

    private ChildProcess(Libc.SpawnedChild spawned)
    {
        Id = spawned.ProcessId;
        _standardOutput = spawned.StandardOutput;
        _standardError = spawned.StandardError;
        new Thread(static state => ((ChildProcess)state!).WatchForExit(), WatcherStackSize)
        {
            IsBackground = true,
            Name = $"mp exit {Id}",
        }.UnsafeStart(this);
    }

    /// <summary>
    /// Starts <paramref name="file"/> with <paramref name="arguments"/>, this process's environment
    /// changed by <paramref name="environment"/> (a null value removes the variable), stdin at end of
    /// input, and stdout and stderr piped to this process (<see cref="AttachOutput"/>).
    /// </summary>
    /// <exception cref="IOException">The process could not be started; also <see cref="FileNotFoundException"/> and <see cref="UnauthorizedAccessException"/>, by cause.</exception>
    public static ChildProcess Start(string file, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string?> environment)
    {
        var argv = new List<string>(arguments.Count + 1) { file };
        argv.AddRange(arguments);
        return new ChildProcess(Libc.Spawn(file, argv, EnvironmentBlock(environment)));
    }

    /// <summary>
    /// This process's environment changed by <paramref name="changes"/> (a null value removes the
    /// variable), as "NAME=value" entries for a program this process starts (or becomes).
    /// </summary>
    public static List<string> EnvironmentBlock(IReadOnlyDictionary<string, string?> changes)
    {
        // The environment as .NET sees it: Environment.SetEnvironmentVariable changes only the
        // runtime's copy, never the C library's, so the block is built from that copy.
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            variables[(string)entry.Key] = (string?)entry.Value ?? "";
        }
        foreach ((string name, string? value) in changes)
        {
            if (value is null)
            {
                variables.Remove(name);
            }
            else
            {
                variables[name] = value;
            }
        }
        var block = new List<string>(variables.Count);
        foreach ((string name, string value) in variables)
        {
            block.Add(string.Concat(name, "=", value));
        }
        return block;
    }

    public int Id { get; }

    /// <summary>Whether the process has ended (a disposed one counts as ended).</summary>
    public bool HasExited => _exit.Task.IsCompleted || Poll();

    /// <summary>The exit code (128 + N when signal N ended it) once the process has ended; null while it runs, if it was disposed before its end was seen, or if its status could not be read.</summary>
    public int? ExitCode => HasExited && _exit.Task.IsCompletedSuccessfully ? _exit.Task.Result : null;

    /// <summary>Starts forwarding the process's output (see <see cref="WorkerOutput"/>). Once only.</summary>
    public WorkerOutput AttachOutput(ILogger? logger)
    {
        SafeFileHandle output, error;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            output = _standardOutput ?? throw new InvalidOperationException("The output of this process is already attached.");
            error = _standardError!;
            _standardOutput = _standardError = null;
        }
        return WorkerOutput.Attach(Id, new FileStream(output, FileAccess.Read, bufferSize: 0), new FileStream(error, FileAccess.Read, bufferSize: 0), logger);
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the process to end.</summary>
    /// <returns>Whether it has ended.</returns>
    public bool WaitForExit(TimeSpan timeout) => _exit.Task.IsCompleted || ((IAsyncResult)_exit.Task).AsyncWaitHandle.WaitOne(timeout) || HasExited;

    /// <summary>Waits for the process to end.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled, or this object was disposed first.</exception>
    public Task WaitForExitAsync(CancellationToken cancellationToken) => _exit.Task.WaitAsync(cancellationToken);

    /// <summary>Sends SIGKILL unless the process is known to have ended.</summary>
    public void Kill()
    {
        lock (_lock)
        {
            // Not reaped before its end is recorded under this lock: the pid is still this child's.
            if (!_exit.Task.IsCompleted)
            {
                Libc.Kill(Id, Libc.SIGKILL);
            }
        }
    }

    /// <summary>Records the end if the process has ended, without waiting.</summary>
    /// <returns>Whether it has ended (or this object was disposed).</returns>
    private bool Poll()
    {
        lock (_lock)
        {
            if (_exit.Task.IsCompleted)
            {
                return true;
            }
            if (Libc.WaitForChildExit(Id, block: false, out int? code))
            {
                _exit.TrySetResult(code);
                return true;
            }
            return false;
        }
    }

    private void WatchForExit()
    {
        Libc.WaitForChildExit(Id, block: true, out int? code);
        lock (_lock)
        {
            _exit.TrySetResult(code);
        }
        // Only now may the pid go to another process.
        Libc.ReapChild(Id);
    }

    /// <summary>Stops tracking the process (it is not killed; it is still reaped when it ends). Its end is then reported as cancelled if it was not seen before.</summary>
    public void Dispose()
    {
        Poll();
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _exit.TrySetCanceled();
            _standardOutput?.Dispose();
            _standardError?.Dispose();
            _standardOutput = _standardError = null;
        }
    }
}
