using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Multiprocessing.Worker;

/// <summary>
/// A started worker process, and the one place its exit status is read: once, under a lock, and
/// then kept, so that every reader (the connection's reader thread, the start-up wait, the pool's
/// disposal, <see cref="WorkerProcess.ExitCode"/>) sees the same final value.
/// </summary>
/// <remarks>
/// <see cref="Process"/> caches the exit state in two fields set one after the other (first
/// "exited", then the code) by whichever thread asks; a second thread asking in between sees
/// "exited" with the code still unset, and its <see cref="Process.ExitCode"/> says 0. A worker
/// killed with SIGKILL (137) was then sometimes reported as having exited normally. So nothing
/// else touches the <see cref="Process"/>'s exit state: waits go through the runtime's wait (which
/// does not write those fields), and the status itself is read here only, under <see cref="_lock"/>.
/// </remarks>
internal sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource<int> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _disposed;

    public ChildProcess(Process process)
    {
        _process = process;
        Id = process.Id;
        // Not Refresh() on the event's own thread: Process raises Exited while holding its lock on
        // itself, and a Refresh elsewhere (holding _lock) may be inside Process.HasExited waiting for
        // that same lock to raise the event itself: each thread would wait for the other's lock.
        process.Exited += (_, _) => ThreadPool.UnsafeQueueUserWorkItem(static self => self.Refresh(), this, preferLocal: false);
        process.EnableRaisingEvents = true;
        // It may have ended before the handler was attached.
        Refresh();
    }

    public int Id { get; }

    /// <summary>Completes with the exit code when the process has ended; cancelled if this object was disposed first.</summary>
    public Task<int> Exited => _exit.Task;

    /// <summary>Whether the process has ended (a disposed one counts as ended).</summary>
    public bool HasExited => _exit.Task.IsCompleted || Refresh();

    /// <summary>The exit code (128 + N when signal N ended it) once the process has ended; null while it runs, or if it was disposed before its end was seen.</summary>
    public int? ExitCode => HasExited && _exit.Task.IsCompletedSuccessfully ? _exit.Task.Result : null;

    /// <summary>Starts forwarding the process's output (see <see cref="WorkerOutput"/>).</summary>
    public WorkerOutput AttachOutput(ILogger? logger) => WorkerOutput.Attach(_process, logger);

    /// <summary>Waits up to <paramref name="timeout"/> for the process to end.</summary>
    /// <returns>Whether it has ended.</returns>
    public bool WaitForExit(TimeSpan timeout)
    {
        if (_exit.Task.IsCompleted)
        {
            return true;
        }
        try
        {
            // The runtime's wait for the child: it blocks on the reaped state, not on the
            // Process's cached fields, so it is safe beside the reads under the lock.
            if (!_process.WaitForExit(timeout))
            {
                return false;
            }
        }
        catch (InvalidOperationException)
        {
            // Disposed meanwhile.
        }
        return Refresh();
    }

    /// <summary>Waits for the process to end.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled, or this object was disposed first.</exception>
    public Task WaitForExitAsync(CancellationToken cancellationToken) => _exit.Task.WaitAsync(cancellationToken);

    /// <summary>Sends SIGKILL unless the process is known to have ended (its pid may then belong to another process).</summary>
    public void Kill()
    {
        lock (_lock)
        {
            if (_disposed || _exit.Task.IsCompleted)
            {
                return;
            }
            try
            {
                _process.Kill();
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
            {
            }
        }
    }

    /// <summary>Reads the exit status if the process has ended. The only reader of the Process's exit state.</summary>
    /// <returns>Whether it has ended.</returns>
    private bool Refresh()
    {
        lock (_lock)
        {
            if (_exit.Task.IsCompleted)
            {
                return true;
            }
            if (_disposed)
            {
                return false;
            }
            try
            {
                if (!_process.HasExited)
                {
                    return false;
                }
                _exit.TrySetResult(_process.ExitCode);
            }
            catch (InvalidOperationException)
            {
                _exit.TrySetCanceled();
            }
            return true;
        }
    }

    public void Dispose()
    {
        Refresh();
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _exit.TrySetCanceled();
            _process.Dispose();
        }
    }
}
