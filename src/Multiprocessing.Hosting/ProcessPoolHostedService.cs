using Microsoft.Extensions.Hosting;

namespace Multiprocessing.Hosting;

/// <summary>Starts the pool's workers with the host and stops them, gracefully, with it.</summary>
internal sealed class ProcessPoolHostedService(ProcessPool pool) : IHostedService
{
    /// <summary>Waits until every worker is ready, so the application serves no request the pool cannot take yet.</summary>
    public Task StartAsync(CancellationToken cancellationToken) => pool.WaitForWorkersAsync(cancellationToken);

    /// <summary>
    /// Disposes the pool: running tasks get up to its ShutdownTimeout, then workers stop. If the
    /// host's own shutdown time-out passes first, the host stops waiting; the disposal goes on, and
    /// any worker left is ended by its control channel closing when this process exits.
    /// </summary>
    /// <remarks>
    /// Queued tasks fail with <see cref="ObjectDisposedException"/> rather than run: a host that
    /// stops (SIGTERM from a service manager) should not start new work. Call
    /// <see cref="ProcessPool.CloseAsync"/> from an <c>IHostApplicationLifetime.ApplicationStopping</c>
    /// handler to let queued tasks finish first.
    /// </remarks>
    public Task StopAsync(CancellationToken cancellationToken) => pool.DisposeAsync().AsTask().WaitAsync(cancellationToken);
}
