using System.Diagnostics;
using System.Runtime.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Multiprocessing.Payload;
using Multiprocessing.Pool;
using Multiprocessing.Scheduling;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;
using Multiprocessing.Worker;

namespace Multiprocessing;

/// <summary>
/// A pool of worker processes that run static .NET methods: the .NET counterpart of Python's
/// <c>multiprocessing.Pool</c> and <c>ProcessPoolExecutor</c>.
/// </summary>
/// <remarks>
/// <para>
/// A task is a static method, or a lambda that captures nothing, plus an argument. The method
/// travels by name (assembly, type, method); the argument and the result are serialised (a fast
/// binary path for primitives, strings, unmanaged structs and their arrays; System.Text.Json for
/// the rest). A lambda that captures variables is refused with an <see cref="ArgumentException"/>
/// that names them, because the worker would not see them.
/// </para>
/// <para>
/// Workers are separate processes started from this application's own runtime config and
/// dependency manifest, so they can load every assembly this process can. Nothing needs a Main
/// guard. If a worker dies (killed, native crash, FailFast, stack overflow), exactly the task it
/// was running fails with <see cref="WorkerCrashedException"/>; the tasks it had queued but not
/// started run elsewhere, and the pool replaces the worker. If this process dies, its workers
/// see their control channel close and exit.
/// </para>
/// <para>
/// Stopping is this process's decision. A service manager or a terminal that signals the whole
/// process group (systemd's default KillMode=control-group, <c>docker stop</c>, Ctrl+C) reaches the
/// workers too; they ignore SIGINT and SIGQUIT and wait for this process to stop them on SIGTERM,
/// so running tasks finish when the application closes or disposes the pool (the generic host
/// does that on SIGTERM), and a plain console application that exits takes its workers with it.
/// A worker sent SIGTERM on its own still goes: if the pool does not stop it within 10 seconds,
/// it finishes its running task, leaves, and is replaced. <see cref="CloseAsync"/> lets queued
/// tasks finish too; <see cref="DisposeAsync"/> fails them.
/// </para>
/// </remarks>
/// <example>
/// <code>
/// await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 4 });
/// int[] squares = await pool.MapAsync(Square, Enumerable.Range(0, 100_000));
/// static int Square(int x) => x * x;
/// </code>
/// </example>
public sealed partial class ProcessPool : IProcessPool
{
    private readonly ProcessPoolOptions _options;
    private readonly CodecProvider _codecs;
    private readonly WorkerInit _init;
    private readonly ILogger _logger;
    private readonly PoolMeter _meter;
    private readonly Scheduler _scheduler;
    private readonly WorkerFleet _fleet;
    private readonly WorkerDeadlines _deadlines;
    private readonly TaskFrontEnd _front;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Starts a pool with one worker per processor.</summary>
    /// <exception cref="PlatformNotSupportedException">Not on Linux.</exception>
    public ProcessPool() : this(new ProcessPoolOptions())
    {
    }

    /// <summary>Starts a pool. Workers start in the background; tasks submitted meanwhile wait for them.</summary>
    /// <param name="options">Worker count, limits and hooks.</param>
    /// <exception cref="ArgumentException">The initializer or the worker-exit hook captures state or is not a static method, the initializer's argument is larger than <see cref="ProcessPoolOptions.MaxMessageSize"/>, or the <see cref="ProcessPoolOptions.Serializer"/> or <see cref="ProcessPoolOptions.JsonContext"/> cannot be created in a worker.</exception>
    /// <exception cref="SerializationException">The initializer's argument (<see cref="ProcessPoolOptions.WithInitializer{TArg}(Action{TArg}, TArg)"/>) cannot be serialised.</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux.</exception>
    public ProcessPool(ProcessPoolOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Interop.Libc.EnsureSupported();
        _options = options;
        var settings = new WorkerSettings(options.EnableWorkerDiagnostics, options.WorkerEnvironment, options.WorkerStartTimeout, options.MaxMessageSize,
            options.LoggerFactory?.CreateLogger(ProcessPoolLogEvents.WorkerCategory))
        { FrameTimeout = options.FrameTimeout };
        // The workers are launched (as many as WorkerFleet.LaunchedAtOnce allows) before anything else is built: a worker's own runtime start is
        // the longest step before a fresh pool's first result, and everything below (and the first
        // uses it costs this process) then happens while the workers boot, instead of before.
        int launchedNow = WorkerFleet.LaunchedAtOnce(options.Workers);
        LaunchedWorker[] launched = WorkerConnection.LaunchMany(settings, launchedNow);
        try
        {
            _codecs = options.Codecs(nameof(options));
            _init = new WorkerInit(options, _codecs);
            _logger = options.LoggerFactory?.CreateLogger(ProcessPoolLogEvents.PoolCategory) ?? NullLogger.Instance;
            _meter = new PoolMeter(options.Name);
            _scheduler = new Scheduler(_meter, nameof(ProcessPool));
            _fleet = new WorkerFleet(_scheduler, options, settings, _logger, _meter, _init);
            _front = new TaskFrontEnd(this, _scheduler, _codecs, options.Name, options.MaxMessageSize, options.MaxTasksPerWorker, () => options.Workers);
            lock (_scheduler.Gate)
            {
                _fleet.Adopt(launched, deferred: options.Workers - launchedNow);
            }
        }
        catch
        {
            // Invalid options (an initializer that captures state, a serializer that cannot be made):
            // the workers launched for nothing must not outlive the failed constructor.
            WorkerConnection.Abandon(launched);
            throw;
        }
        _deadlines = new WorkerDeadlines(_fleet, options, _logger);
        PoolInstruments.Register(this);
    }

    /// <summary>The options the pool was created with.</summary>
    public ProcessPoolOptions Options => _options;

    /// <summary>Number of worker processes the pool keeps running.</summary>
    public int WorkerCount => _options.Workers;

    /// <summary>Process ids of the workers that are currently running (started and not yet exited).</summary>
    public IReadOnlyList<int> WorkerProcessIds
    {
        get
        {
            lock (_scheduler.Gate)
            {
                return _fleet.Workers.Where(w => w.Connection is not null && w.State is not ExecutorState.Dead).Select(w => w.Connection!.ProcessId).ToArray();
            }
        }
    }

    /// <summary>Waits until every worker has started and run its initializer.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when all workers are ready.</returns>
    /// <exception cref="WorkerStartException">Workers could not be started or their initializer failed.</exception>
    public async Task WaitForWorkersAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task changed;
            lock (_scheduler.Gate)
            {
                ObjectDisposedException.ThrowIf(_scheduler.IsClosed, this);
                if (_scheduler.Fault is { } fault)
                {
                    throw fault;
                }
                if (_fleet.Workers.Count(w => w.State == ExecutorState.Ready) >= _options.Workers)
                {
                    return;
                }
                changed = _scheduler.ExecutorsChanged;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    // ----- Submit -----

    /// <summary>Runs <paramref name="func"/>(<paramref name="argument"/>) in a worker.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">Serialised and sent to the worker.</param>
    /// <param name="cancellationToken">Cancels the task: the returned task is cancelled at once; the worker's token (if the method takes one) is cancelled.</param>
    /// <returns>The method's result.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    /// <exception cref="SerializationException">The argument cannot be serialised.</exception>
    /// <exception cref="WorkerException">The method threw (in the returned task).</exception>
    /// <exception cref="WorkerCrashedException">The worker died while running it (in the returned task).</exception>
    /// <exception cref="TimeoutException">It ran longer than <see cref="ProcessPoolOptions.TaskTimeout"/> (in the returned task).</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public Task<TResult> SubmitAsync<T, TResult>(Func<T, TResult> func, T argument, CancellationToken cancellationToken = default) =>
        _front.Submit<T, TResult>(func, argument, cancellationToken);

    /// <inheritdoc cref="SubmitAsync{T, TResult}(Func{T, TResult}, T, CancellationToken)"/>
    public Task<TResult> SubmitAsync<T, TResult>(Func<T, Task<TResult>> func, T argument, CancellationToken cancellationToken = default) =>
        _front.Submit<T, TResult>(func, argument, cancellationToken);

    /// <inheritdoc cref="SubmitAsync{T, TResult}(Func{T, TResult}, T, CancellationToken)"/>
    public Task<TResult> SubmitAsync<T, TResult>(Func<T, ValueTask<TResult>> func, T argument, CancellationToken cancellationToken = default) =>
        _front.Submit<T, TResult>(func, argument, cancellationToken);

    /// <inheritdoc cref="SubmitAsync{T, TResult}(Func{T, TResult}, T, CancellationToken)"/>
    public Task<TResult> SubmitAsync<T, TResult>(Func<T, CancellationToken, TResult> func, T argument, CancellationToken cancellationToken = default) =>
        _front.Submit<T, TResult>(func, argument, cancellationToken);

    /// <inheritdoc cref="SubmitAsync{T, TResult}(Func{T, TResult}, T, CancellationToken)"/>
    public Task<TResult> SubmitAsync<T, TResult>(Func<T, CancellationToken, Task<TResult>> func, T argument, CancellationToken cancellationToken = default) =>
        _front.Submit<T, TResult>(func, argument, cancellationToken);

    /// <summary>Runs <paramref name="action"/>(<paramref name="argument"/>) in a worker.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">Serialised and sent to the worker.</param>
    /// <param name="cancellationToken">Cancels the task.</param>
    /// <returns>A task that completes when the method has run.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    /// <exception cref="SerializationException">The argument cannot be serialised.</exception>
    public Task SubmitAsync<T>(Action<T> action, T argument, CancellationToken cancellationToken = default) =>
        _front.Submit<T, Unit>(action, argument, cancellationToken);

    /// <inheritdoc cref="SubmitAsync{T}(Action{T}, T, CancellationToken)"/>
    public Task SubmitAsync<T>(Func<T, Task> action, T argument, CancellationToken cancellationToken = default) =>
        _front.Submit<T, Unit>(action, argument, cancellationToken);

    /// <inheritdoc cref="SubmitAsync{T}(Action{T}, T, CancellationToken)"/>
    public Task SubmitAsync<T>(Action<T, CancellationToken> action, T argument, CancellationToken cancellationToken = default) =>
        _front.Submit<T, Unit>(action, argument, cancellationToken);

    /// <inheritdoc cref="SubmitAsync{T}(Action{T}, T, CancellationToken)"/>
    public Task SubmitAsync<T>(Func<T, CancellationToken, Task> action, T argument, CancellationToken cancellationToken = default) =>
        _front.Submit<T, Unit>(action, argument, cancellationToken);

    /// <summary>Runs <paramref name="func"/>() in a worker.</summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="cancellationToken">Cancels the task.</param>
    /// <returns>The method's result.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its result type cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    public Task<TResult> SubmitAsync<TResult>(Func<TResult> func, CancellationToken cancellationToken = default) =>
        _front.Submit<NoArgument, TResult>(func, default, cancellationToken);

    /// <inheritdoc cref="SubmitAsync{TResult}(Func{TResult}, CancellationToken)"/>
    public Task<TResult> SubmitAsync<TResult>(Func<Task<TResult>> func, CancellationToken cancellationToken = default) =>
        _front.Submit<NoArgument, TResult>(func, default, cancellationToken);

    // ----- Map -----

    /// <summary>
    /// Runs <paramref name="func"/> on every item in the workers and returns the results in input
    /// order, like Python's <c>Pool.map</c>. Items are sent in chunks (see <see cref="MapOptions.ChunkSize"/>).
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">
    /// The input; read lazily, at most <see cref="MapOptions.LookAhead"/> items ahead. If it throws, the items
    /// read before then still run, and the map then fails with the input's exception.
    /// </param>
    /// <param name="options">Chunk size, look-ahead and progress.</param>
    /// <param name="cancellationToken">Cancels the map: the task is cancelled at once and running chunks are cancelled in the workers.</param>
    /// <returns>One result per item, in input order.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    /// <exception cref="WorkerException">A task threw; <see cref="WorkerException.ItemIndex"/> says which item (in the returned task).</exception>
    /// <exception cref="WorkerCrashedException">A worker died while running an item (in the returned task).</exception>
    /// <exception cref="SerializationException">An item or result cannot be serialised (in the returned task).</exception>
    public Task<TResult[]> MapAsync<T, TResult>(Func<T, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Map<T, TResult>(func, items, options, cancellationToken);

    /// <inheritdoc cref="MapAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public Task<TResult[]> MapAsync<T, TResult>(Func<T, Task<TResult>> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Map<T, TResult>(func, items, options, cancellationToken);

    /// <inheritdoc cref="MapAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public Task<TResult[]> MapAsync<T, TResult>(Func<T, ValueTask<TResult>> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Map<T, TResult>(func, items, options, cancellationToken);

    /// <inheritdoc cref="MapAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public Task<TResult[]> MapAsync<T, TResult>(Func<T, CancellationToken, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Map<T, TResult>(func, items, options, cancellationToken);

    /// <inheritdoc cref="MapAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public Task<TResult[]> MapAsync<T, TResult>(Func<T, CancellationToken, Task<TResult>> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Map<T, TResult>(func, items, options, cancellationToken);

    /// <summary>Runs <paramref name="action"/> on every item in the workers; completes when all have run.</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily.</param>
    /// <param name="options">Chunk size, look-ahead and progress.</param>
    /// <param name="cancellationToken">Cancels the map.</param>
    /// <returns>A task that completes when every item has been processed.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    public Task MapAsync<T>(Action<T> action, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Map<T, Unit>(action, items, options, cancellationToken);

    /// <inheritdoc cref="MapAsync{T}(Action{T}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public Task MapAsync<T>(Func<T, Task> action, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Map<T, Unit>(action, items, options, cancellationToken);

    /// <inheritdoc cref="MapAsync{T}(Action{T}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public Task MapAsync<T>(Action<T, CancellationToken> action, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Map<T, Unit>(action, items, options, cancellationToken);

    /// <summary>The blocking twin of <see cref="MapAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>.</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input.</param>
    /// <param name="options">Chunk size, look-ahead and progress.</param>
    /// <param name="cancellationToken">Cancels the map.</param>
    /// <returns>One result per item, in input order.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    /// <exception cref="WorkerException">A task threw.</exception>
    /// <exception cref="WorkerCrashedException">A worker died while running an item.</exception>
    public TResult[] Map<T, TResult>(Func<T, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Map<T, TResult>(func, items, options, cancellationToken).GetAwaiter().GetResult();

    /// <summary>The blocking twin of <see cref="MapAsync{T}(Action{T}, IEnumerable{T}, MapOptions?, CancellationToken)"/>.</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input.</param>
    /// <param name="options">Chunk size, look-ahead and progress.</param>
    /// <param name="cancellationToken">Cancels the map.</param>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    /// <exception cref="WorkerException">A task threw.</exception>
    public void Map<T>(Action<T> action, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Map<T, Unit>(action, items, options, cancellationToken).GetAwaiter().GetResult();

    // ----- Streaming map -----

    /// <summary>
    /// Runs <paramref name="func"/> on every item and yields results as they are ready, in input order
    /// (<see cref="MapOptions.Ordered"/>, the default) or as they finish, like Python's <c>imap</c> and
    /// <c>imap_unordered</c>. The input is read lazily with a bounded look-ahead, so an endless input
    /// works and memory stays flat. Leaving the loop early cancels the rest. If the input throws (or
    /// an item cannot be sent), the results of every item before it are yielded first, then that exception.
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input.</param>
    /// <param name="options">Order, chunk size, look-ahead and progress.</param>
    /// <param name="cancellationToken">Cancels the map.</param>
    /// <returns>The results.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    /// <exception cref="WorkerException">A task threw (when its result is reached).</exception>
    public IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Stream<T, TResult>(func, items, null, options, cancellationToken);

    /// <inheritdoc cref="MapStreamAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, Task<TResult>> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Stream<T, TResult>(func, items, null, options, cancellationToken);

    /// <inheritdoc cref="MapStreamAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, CancellationToken, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Stream<T, TResult>(func, items, null, options, cancellationToken);

    /// <inheritdoc cref="MapStreamAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, TResult> func, IAsyncEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Stream<T, TResult>(func, null, items, options, cancellationToken);

    /// <inheritdoc cref="MapStreamAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, Task<TResult>> func, IAsyncEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        _front.Stream<T, TResult>(func, null, items, options, cancellationToken);

    // ----- Lifetime -----

    /// <summary>
    /// Closes the pool gracefully, like Python's <c>Pool.close()</c> followed by <c>join()</c>, or
    /// <c>Executor.shutdown(wait=True)</c>: the pool takes no new work, lets every task already
    /// submitted finish (queued and running ones, and the rest of maps already under way), then
    /// stops its workers normally.
    /// </summary>
    /// <remarks>
    /// <para>
    /// From the call on, <c>SubmitAsync</c>, <c>MapAsync</c>, <c>Map</c> and <c>MapStreamAsync</c>
    /// throw <see cref="InvalidOperationException"/> (the pool is closing); once the close has
    /// completed they throw <see cref="ObjectDisposedException"/>, and <see cref="DisposeAsync"/>
    /// returns at once. While the pool drains, tasks fail or are cancelled as usual and a worker
    /// that dies is replaced. A streaming map whose caller stops reading holds the close up, as its
    /// remaining results are still wanted: leave or cancel the loop to let it go.
    /// </para>
    /// <para>
    /// If <paramref name="cancellationToken"/> is cancelled before the work has finished, the close
    /// falls back to <see cref="DisposeAsync"/>: tasks still queued fail with
    /// <see cref="ObjectDisposedException"/>, running ones get up to
    /// <see cref="ProcessPoolOptions.ShutdownTimeout"/>, and this method throws
    /// <see cref="OperationCanceledException"/> once the workers have stopped.
    /// </para>
    /// </remarks>
    /// <param name="cancellationToken">Stops waiting for the work and disposes the pool instead.</param>
    /// <returns>A task that completes when every submitted task has finished and every worker process has exited.</returns>
    /// <exception cref="ObjectDisposedException">The pool was disposed before the call.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first; the pool has been disposed.</exception>
    public async Task CloseAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_scheduler.IsClosed, this);
        Task idle = _front.StopTakingCallsAsync();
        try
        {
            await idle.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await DisposeAsync().ConfigureAwait(false);
            await _stopped.Task.ConfigureAwait(false);
            throw;
        }
        await DisposeAsync().ConfigureAwait(false);
        // A second caller's DisposeAsync returns at once; every caller returns when the workers are gone.
        await _stopped.Task.ConfigureAwait(false);
    }

    /// <summary>The blocking twin of <see cref="CloseAsync"/>.</summary>
    /// <param name="cancellationToken">Stops waiting for the work and disposes the pool instead.</param>
    /// <exception cref="ObjectDisposedException">The pool was disposed before the call.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first; the pool has been disposed.</exception>
    public void Close(CancellationToken cancellationToken = default) => CloseAsync(cancellationToken).GetAwaiter().GetResult();

    /// <summary>
    /// Stops the pool: queued tasks fail with <see cref="ObjectDisposedException"/>, running ones get
    /// up to <see cref="ProcessPoolOptions.ShutdownTimeout"/> to finish, then every worker is stopped.
    /// To let queued tasks finish first, call <see cref="CloseAsync"/>.
    /// </summary>
    /// <returns>A task that completes when every worker process has exited.</returns>
    public async ValueTask DisposeAsync()
    {
        if (!_scheduler.Close())
        {
            return;
        }
        PoolInstruments.Unregister(this);
        await _deadlines.DisposeAsync().ConfigureAwait(false);
        await _scheduler.Drained.WaitAsync(_options.ShutdownTimeout).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
        await _fleet.StopAsync().ConfigureAwait(false);
        _fleet.Dispose();
        _stopped.TrySetResult();
    }

    /// <summary>The blocking twin of <see cref="DisposeAsync"/>.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
