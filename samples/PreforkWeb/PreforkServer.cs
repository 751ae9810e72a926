using System.Net;
using System.Net.Sockets;
using Multiprocessing;

namespace PreforkWeb;

/// <summary>
/// The parent of a preforked server: reserves the port, builds the shared dataset (shared mode),
/// starts the workers, restarts any that dies, and stops them all on <see cref="StopAsync"/>.
/// </summary>
/// <remarks>
/// Every worker binds its own listening socket to the same 127.0.0.1 port with SO_REUSEPORT, and
/// the kernel balances new connections across the listeners. The parent keeps one more socket
/// bound to that port with SO_REUSEPORT but never listening: that reserves the port for the whole
/// life of the server (also while a worker is being replaced) without receiving any connection,
/// and it lets <c>--port 0</c> pick a free port once, for all workers.
/// </remarks>
public sealed class PreforkServer : IAsyncDisposable
{
    private readonly DatasetMode _mode;
    private readonly int _items;
    private readonly Action<string> _log;
    private readonly WorkerProcess?[] _slots;
    private readonly Task[] _supervisors;
    private readonly SharedValue<int> _ready = SharedValue<int>.Create();
    private readonly SharedValue<int> _stop = SharedValue<int>.Create();
    private readonly Socket _reservation;
    private readonly SharedArray<long>? _shared;
    private readonly Lock _gate = new();
    private int _started;
    private int _restarts;
    private volatile bool _stopping;

    private PreforkServer(DatasetMode mode, int workers, int port, int items, Action<string> log)
    {
        _mode = mode;
        _items = items;
        _log = log;
        _slots = new WorkerProcess?[workers];
        _supervisors = new Task[workers];
        _reservation = PreforkWorker.BindReusePort(new IPEndPoint(IPAddress.Loopback, port));
        Port = ((IPEndPoint)_reservation.LocalEndPoint!).Port;
        if (mode == DatasetMode.Shared)
        {
            // Built once, here; the workers receive a descriptor and map these pages read-only.
            _shared = SharedArray<long>.Create(items);
            for (long start = 0; start < items; start += 1 << 24)
            {
                PreforkWorker.Fill(_shared.AsSpan(start, (int)Math.Min(1 << 24, items - start)), start);
            }
        }
    }

    /// <summary>The port every worker listens on, on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The process ids of the workers running now.</summary>
    public IReadOnlyList<int> WorkerIds
    {
        get
        {
            lock (_gate)
            {
                return [.. _slots.Where(w => w is not null && !w.HasExited).Select(w => w!.Id)];
            }
        }
    }

    /// <summary>How many replacement workers have been started for workers that died.</summary>
    public int Restarts => Volatile.Read(ref _restarts);

    /// <summary>Reserves the port, builds the dataset (shared mode) and starts the workers.</summary>
    /// <param name="mode">Copied or shared dataset.</param>
    /// <param name="workers">How many worker processes.</param>
    /// <param name="port">The port on 127.0.0.1; 0 picks a free one.</param>
    /// <param name="items">Elements in the dataset.</param>
    /// <param name="log">Receives one line per event (worker started, died, restarted, stopped).</param>
    /// <returns>The running server; its workers may still be starting (see <see cref="WaitUntilReadyAsync"/>).</returns>
    public static PreforkServer Start(DatasetMode mode, int workers, int port, int items, Action<string> log)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(items, PreforkWorker.SliceLength);
        ArgumentNullException.ThrowIfNull(log);
        var server = new PreforkServer(mode, workers, port, items, log);
        for (int slot = 0; slot < workers; slot++)
        {
            server._supervisors[slot] = server.SuperviseAsync(slot);
        }
        return server;
    }

    /// <summary>Waits until every worker started so far listens.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when all workers are ready.</returns>
    /// <exception cref="TimeoutException">They were not ready in time.</exception>
    public async Task WaitUntilReadyAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            while (Volatile.Read(ref _ready.Value) < Volatile.Read(ref _started) || Volatile.Read(ref _started) < _slots.Length)
            {
                await Task.Delay(20, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"The workers were not all listening after {timeout.TotalSeconds:0} s.");
        }
    }

    private async Task SuperviseAsync(int slot)
    {
        await Task.Yield();
        int? replaces = null;
        while (!_stopping)
        {
            WorkerProcess worker;
            lock (_gate)
            {
                if (_stopping)
                {
                    return;
                }
                worker = _mode == DatasetMode.Shared
                    ? WorkerProcess.Start(PreforkWorker.ServeSharedAsync, (_shared!.AsReadOnly(), Port, _ready, _stop))
                    : WorkerProcess.Start(PreforkWorker.ServeCopiedAsync, (_items, Port, _ready, _stop));
                _slots[slot] = worker;
                Interlocked.Increment(ref _started);
            }
            if (replaces is { } previous)
            {
                Interlocked.Increment(ref _restarts);
                _log($"worker {slot} restarted: pid {worker.Id} replaces pid {previous}");
            }
            else
            {
                _log($"worker {slot} started: pid {worker.Id}");
            }
            string outcome;
            try
            {
                await worker.Completion.ConfigureAwait(false);
                outcome = "returned";
            }
            catch (Exception e) when (e is WorkerCrashedException or WorkerException)
            {
                outcome = e.Message.Split('\n')[0];
            }
            if (_stopping)
            {
                return;
            }
            // A worker that dies is replaced with the same arguments; the others keep serving.
            replaces = worker.Id;
            _log($"worker {slot} (pid {worker.Id}) is gone ({outcome}); starting a replacement");
            worker.Dispose();
            await Task.Delay(100).ConfigureAwait(false); // no hot loop if a worker cannot start at all
        }
    }

    /// <summary>Stops every worker: asks each to stop Kestrel, then kills (by id) any that has not exited within <paramref name="grace"/>.</summary>
    /// <param name="grace">How long workers get to finish their requests.</param>
    /// <returns>A task that completes when every worker has exited.</returns>
    public async Task StopAsync(TimeSpan grace)
    {
        WorkerProcess[] workers;
        lock (_gate)
        {
            _stopping = true;
            workers = [.. _slots.Where(w => w is not null).Select(w => w!)];
        }
        Volatile.Write(ref _stop.Value, 1);
        await Task.WhenAll(workers.Select(async w =>
        {
            using var wait = new CancellationTokenSource(grace);
            try
            {
                await w.WaitForExitAsync(wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _log($"worker pid {w.Id} did not stop within {grace.TotalSeconds:0} s; killing it");
                w.Kill();
                await w.WaitForExitAsync().ConfigureAwait(false);
            }
        })).ConfigureAwait(false);
        await Task.WhenAll(_supervisors).ConfigureAwait(false);
        foreach (WorkerProcess w in workers)
        {
            w.Dispose();
        }
    }

    /// <summary>Stops the workers (if not yet stopped) and releases the port and the shared memory.</summary>
    /// <returns>A task that completes when everything is released.</returns>
    public async ValueTask DisposeAsync()
    {
        if (!_stopping)
        {
            await StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        _reservation.Dispose();
        _shared?.Dispose();
        _ready.Dispose();
        _stop.Dispose();
    }
}
