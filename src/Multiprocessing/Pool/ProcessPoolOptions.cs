using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Multiprocessing.Serialization;

namespace Multiprocessing;

/// <summary>How a <see cref="ProcessPool"/> runs its workers. Every property has a documented default.</summary>
public sealed record ProcessPoolOptions
{
    private readonly int _workers = Environment.ProcessorCount;
    private readonly int? _maxTasksPerWorker;
    private readonly TimeSpan? _taskTimeout;
    private readonly long? _workerMemoryLimit;
    private readonly TimeSpan _cancellationGracePeriod = TimeSpan.FromSeconds(5);
    private readonly TimeSpan _workerStartTimeout = TimeSpan.FromSeconds(60);
    private readonly TimeSpan _shutdownTimeout = TimeSpan.FromSeconds(10);
    private readonly long _maxMessageSize = 1L << 30;
    private readonly Action? _initializer;

    /// <summary>Number of worker processes.</summary>
    /// <value>The default is <see cref="Environment.ProcessorCount"/>.</value>
    /// <remarks>
    /// A new pool launches at once as many workers as leave one core to this process (at least one),
    /// and the rest as soon as the first has connected: booting runtimes are bound by CPU, and more
    /// of them than cores only slows each one down. On a two-core machine a two-worker pool's first
    /// result comes sooner this way and its second worker is ready about a boot later;
    /// <see cref="ProcessPool.WaitForWorkersAsync"/> waits for all of them.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">Less than 1 or more than 1024.</exception>
    public int Workers
    {
        get => _workers;
        init => _workers = value is >= 1 and <= 1024 ? value : throw new ArgumentOutOfRangeException(nameof(Workers), value, "A pool needs between 1 and 1024 workers.");
    }

    /// <summary>
    /// After running this many tasks (input items), a worker is replaced by a fresh process, which
    /// contains leaks in code you do not control.
    /// </summary>
    /// <value>The default is null: workers live as long as the pool.</value>
    public int? MaxTasksPerWorker
    {
        get => _maxTasksPerWorker;
        init => _maxTasksPerWorker = value is null or >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxTasksPerWorker), value, "Must be at least 1, or null for no limit.");
    }

    /// <summary>
    /// Longest time one task (one input item) may run. A task that runs longer fails with
    /// <see cref="TimeoutException"/>; its worker is killed and replaced, since .NET cannot abort a running method.
    /// A worker that does not begin the work it was handed within this time (at least a second), being
    /// frozen or stopped, is killed too, and the tasks it had not begun go to another worker.
    /// </summary>
    /// <value>The default is null: no limit.</value>
    public TimeSpan? TaskTimeout
    {
        get => _taskTimeout;
        init => _taskTimeout = value is null || value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(TaskTimeout), value, "Must be positive, or null for no limit.");
    }

    /// <summary>
    /// A worker whose private resident memory exceeds this many bytes after a task is replaced once
    /// its current work is done. The task itself completes normally.
    /// </summary>
    /// <value>The default is null: no limit.</value>
    public long? WorkerMemoryLimit
    {
        get => _workerMemoryLimit;
        init => _workerMemoryLimit = value is null or > 0 ? value : throw new ArgumentOutOfRangeException(nameof(WorkerMemoryLimit), value, "Must be positive, or null for no limit.");
    }

    /// <summary>
    /// A static method (or a lambda that captures nothing) that every worker runs once, before its
    /// first task: the place to load per-worker state such as a model or a native library. If it
    /// throws, the pool stops and every task fails with a <see cref="WorkerStartException"/> that
    /// carries the error; the pool does not restart workers in a loop. To tell the initializer what
    /// to load, give it an argument with <see cref="WithInitializer{TArg}(Action{TArg}, TArg)"/>;
    /// setting this property replaces an initializer set that way.
    /// </summary>
    /// <value>The default is null.</value>
    public Action? Initializer
    {
        get => _initializer;
        init
        {
            _initializer = value;
            InitializerCall = null;
        }
    }

    /// <summary>The initializer and its argument set by <see cref="WithInitializer{TArg}(Action{TArg}, TArg)"/>, or null.</summary>
    internal WorkerInitializerCall? InitializerCall { get; private init; }

    /// <summary>This process's codecs for the pool's values, after refusing a serializer or JSON context a worker could not create.</summary>
    /// <exception cref="ArgumentException">The serializer or the JSON context cannot be created in another process.</exception>
    internal CodecProvider Codecs(string parameterName)
    {
        if (Serializer is not null)
        {
            SerializerTypes.RequireCreatable(Serializer, parameterName);
        }
        if (JsonContext is not null)
        {
            SerializerTypes.RequireCreatable(JsonContext, parameterName);
        }
        return CodecProvider.For(Serializer, JsonContext);
    }

    /// <summary>The argument given to <see cref="WithInitializer{TArg}(Action{TArg}, TArg)"/>, as this process holds it.</summary>
    /// <value>The default is null: no initializer with an argument.</value>
    public object? InitializerArgument => InitializerCall?.Argument;

    /// <summary>
    /// Returns a copy of these options whose workers each run <paramref name="initializer"/>(<paramref name="argument"/>)
    /// once, before their first task, like Python's <c>Pool(initializer, initargs)</c>: a worker can
    /// load the model, table or file it is told to. The argument is serialised once, when the pool is
    /// created, with the pool's serializers (as a task's argument is), and sent to every worker,
    /// replacements included; a shared object (a <c>SharedArray</c>) is attached, not copied.
    /// Otherwise the initializer behaves as <see cref="Initializer"/>, which it replaces.
    /// </summary>
    /// <typeparam name="TArg">The argument type.</typeparam>
    /// <param name="initializer">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">What the initializer is given in every worker.</param>
    /// <returns>The new options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="initializer"/> is null.</exception>
    /// <remarks>
    /// The delegate and the argument are checked when the pool is created: a lambda that captures
    /// state is refused with an <see cref="ArgumentException"/>, an argument that cannot be sent
    /// with a <see cref="System.Runtime.Serialization.SerializationException"/>, as for a task.
    /// A shared object passed this way must stay undisposed as long as the pool runs: workers that
    /// replace others attach it when they start.
    /// </remarks>
    /// <example>
    /// <code>
    /// var options = new ProcessPoolOptions { Workers = 4 }.WithInitializer(Model.Load, "/models/en.onnx");
    /// </code>
    /// </example>
    public ProcessPoolOptions WithInitializer<TArg>(Action<TArg> initializer, TArg argument)
    {
        ArgumentNullException.ThrowIfNull(initializer);
        return this with { Initializer = null, InitializerCall = new WorkerInitializerCall<TArg>(initializer, argument) };
    }

    /// <inheritdoc cref="WithInitializer{TArg}(Action{TArg}, TArg)"/>
    public ProcessPoolOptions WithInitializer<TArg>(Func<TArg, Task> initializer, TArg argument)
    {
        ArgumentNullException.ThrowIfNull(initializer);
        return this with { Initializer = null, InitializerCall = new WorkerInitializerCall<TArg>(initializer, argument) };
    }

    /// <summary>
    /// A static method (or a lambda that captures nothing) that a worker runs when the pool stops it
    /// normally, like mpire's <c>worker_exit</c>: the place to flush or release per-worker state
    /// (close a file, a connection, a native handle) that <see cref="Initializer"/> set up. It runs
    /// when the pool is disposed or closed, and when a worker is recycled after
    /// <see cref="MaxTasksPerWorker"/> tasks or for exceeding <see cref="WorkerMemoryLimit"/>,
    /// after the worker's last task. It does not run in a worker that is killed (a task past its
    /// <see cref="TaskTimeout"/> or <see cref="CancellationGracePeriod"/>, a crash, a signal),
    /// nor in one that left because this process went away.
    /// </summary>
    /// <remarks>
    /// The hook has <see cref="ShutdownTimeout"/> to return; after that the worker exits without
    /// waiting for it. A hook that throws or takes too long fails no task: the pool logs it as
    /// <see cref="ProcessPoolLogEvents.WorkerExitFailed"/>.
    /// </remarks>
    /// <value>The default is null.</value>
    public Action? WorkerExit { get; init; }

    /// <summary>Serializer for argument and result types it accepts; the built-in ones handle the rest.</summary>
    /// <value>The default is null: the built-in binary path and System.Text.Json.</value>
    public IWorkerSerializer? Serializer { get; init; }

    /// <summary>
    /// JSON metadata for argument and result types that travel as JSON: typically a System.Text.Json
    /// source-generated <c>JsonSerializerContext</c>, which spares the reflection the default path does
    /// per type. Types the context does not cover keep the reflection-based metadata.
    /// </summary>
    /// <value>The default is null: metadata by reflection.</value>
    /// <remarks>
    /// Every worker creates the same context from its type's public static <c>Default</c> property
    /// (which the source generator writes) or its public parameterless constructor; the pool refuses
    /// a context that has neither when it is created. The library's own converters and its checks
    /// that a type round-trips exactly still apply: the context supplies metadata only, used with the
    /// library's options. So what the context's own options say (<c>[JsonSourceGenerationOptions]</c>:
    /// a naming policy, converters) does not apply; what is on the types and members
    /// (<c>[JsonPropertyName]</c>, <c>[JsonConverter]</c>, <c>[JsonDerivedType]</c>) does. A type the
    /// <see cref="Serializer"/> accepts does not reach JSON at all. See docs/serialization.md.
    /// </remarks>
    public IJsonTypeInfoResolver? JsonContext { get; init; }

    /// <summary>
    /// After a running task's caller cancels, how long the worker is given to notice its
    /// <see cref="CancellationToken"/> and return before it is killed and replaced.
    /// </summary>
    /// <value>The default is 5 seconds.</value>
    public TimeSpan CancellationGracePeriod
    {
        get => _cancellationGracePeriod;
        init => _cancellationGracePeriod = value >= TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(CancellationGracePeriod), value, "Must not be negative.");
    }

    /// <summary>How long a new worker may take to start and connect before the start counts as failed.</summary>
    /// <value>The default is 60 seconds.</value>
    public TimeSpan WorkerStartTimeout
    {
        get => _workerStartTimeout;
        init => _workerStartTimeout = value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(WorkerStartTimeout), value, "Must be positive.");
    }

    /// <summary>
    /// On dispose, how long tasks that are already running may take to finish before their workers
    /// are killed. Tasks still queued fail at once with <see cref="ObjectDisposedException"/>.
    /// </summary>
    /// <value>The default is 10 seconds.</value>
    public TimeSpan ShutdownTimeout
    {
        get => _shutdownTimeout;
        init => _shutdownTimeout = value >= TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(ShutdownTimeout), value, "Must not be negative.");
    }

    /// <summary>Largest control-channel frame (a chunk of serialised arguments or results) in bytes. A larger one is refused with a clear error.</summary>
    /// <value>The default is 1 GiB.</value>
    public long MaxMessageSize
    {
        get => _maxMessageSize;
        init => _maxMessageSize = value is >= 4096 and <= int.MaxValue ? value : throw new ArgumentOutOfRangeException(nameof(MaxMessageSize), value, $"Must be between 4096 and {int.MaxValue}.");
    }

    /// <summary>
    /// Whether workers open the .NET diagnostic channel (dotnet-counters, dotnet-trace, a debugger).
    /// Off by default because a killed worker leaves the channel's files in the temp folder; the
    /// pool removes them for workers it ends.
    /// </summary>
    /// <remarks>
    /// While it is off, workers also start with event sources switched off
    /// (<c>System.Diagnostics.Tracing.EventSource.IsSupported</c>, unless the application's runtime
    /// config sets it): nothing outside a worker could listen to them, and building them cost every
    /// fresh worker tens of milliseconds of CPU. <see cref="System.Diagnostics.ActivitySource"/>,
    /// <see cref="System.Diagnostics.Metrics.Meter"/> and their listeners work as usual; an
    /// <see cref="System.Diagnostics.Tracing.EventListener"/> inside a worker needs this option on.
    /// </remarks>
    /// <value>The default is false.</value>
    public bool EnableWorkerDiagnostics { get; init; }

    /// <summary>
    /// A name for the pool, given to its metrics as the <see cref="ProcessPoolMetrics.PoolTag"/> tag
    /// so that several pools in one process can be told apart.
    /// </summary>
    /// <value>The default is null: measurements carry no pool tag.</value>
    public string? Name { get; init; }

    /// <summary>
    /// Where the pool logs worker starts, exits, recycling, crashes, time-outs and start failures
    /// (category <see cref="ProcessPoolLogEvents.PoolCategory"/>, event ids in
    /// <see cref="ProcessPoolLogEvents"/>). When set, what workers write to stdout and stderr goes
    /// to the category <see cref="ProcessPoolLogEvents.WorkerCategory"/> too, instead of this
    /// process's console.
    /// </summary>
    /// <value>The default is null: the pool logs nothing, and worker output is copied to this process's console, each line prefixed with <c>[worker PID]</c>.</value>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>How long a frame from a worker may stay incomplete before the worker is killed (internal: tests shorten it).</summary>
    internal TimeSpan FrameTimeout { get; init; } = Worker.WorkerSettings.DefaultFrameTimeout;

    /// <summary>Extra environment variables for worker processes; a null value removes that variable from their environment.</summary>
    /// <value>The default is empty: workers inherit this process's environment (as .NET sees it, <see cref="Environment.SetEnvironmentVariable(string, string)"/> included).</value>
    public IReadOnlyDictionary<string, string?> WorkerEnvironment { get; init; } = new Dictionary<string, string?>();
}
