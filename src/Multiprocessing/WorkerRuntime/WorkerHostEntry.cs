using System.Diagnostics;
using System.Runtime.InteropServices;
using Multiprocessing.Interop;
using Multiprocessing.Wire;

namespace Multiprocessing.WorkerRuntime;

/// <summary>
/// Where a worker process starts: it connects to its parent and hands over to the
/// <see cref="CommandLoop"/>. Called by the host executable (Multiprocessing.WorkerHost), by name,
/// never by user code.
/// </summary>
internal static class WorkerHostEntry
{
    /// <summary>Runs the worker until the parent says stop or goes away.</summary>
    /// <param name="args">Unused; the connection details arrive in the environment, out of sight of other users.</param>
    /// <returns>The process exit code.</returns>
    public static int Run(string[] args)
    {
        _ = args;
        string? socketPath = Environment.GetEnvironmentVariable(Protocol.SocketVariable);
        string? token = Environment.GetEnvironmentVariable(Protocol.TokenVariable);
        if (socketPath is null || token is null)
        {
            Console.Error.WriteLine("Multiprocessing.WorkerHost is started by the Multiprocessing library; it is not a program to run by hand.");
            return WorkerExitCodes.Usage;
        }
        // Before anything slow: a stop signal to the whole group may come while this worker starts.
        StopSignals.Register();
        WorkerWarmUp.Start();
        // Children this worker starts must not mistake themselves for workers.
        Environment.SetEnvironmentVariable(Protocol.SocketVariable, null);
        Environment.SetEnvironmentVariable(Protocol.TokenVariable, null);
        // A worker should stop mapping a parent's array soon after the parent releases it.
        Sharing.SegmentAttachments.CollectAfterSweep = true;
        // The parent binds its socket while this process starts; until it has, connecting fails
        // with "no such file" or "refused", and we try again for a bounded time.
        SafeUnixSocket? socket;
        var clock = Stopwatch.StartNew();
        while ((socket = Libc.TryConnectUnix(socketPath, out int errno)) is null)
        {
            bool notListeningYet = errno is Libc.Errno.ENOENT or Libc.ECONNREFUSED;
            if (!notListeningYet || clock.Elapsed > TimeSpan.FromSeconds(30) || Libc.GetParentProcessId() == 1)
            {
                Console.Error.WriteLine($"Worker {Environment.ProcessId} could not connect to its parent at {socketPath}: {Marshal.GetPInvokeErrorMessage(errno)}");
                return WorkerExitCodes.CannotConnect;
            }
            Thread.Sleep(1);
        }
        return new CommandLoop(socket).Run(token);
    }
}
