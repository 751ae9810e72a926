using Microsoft.Extensions.Logging;

namespace Multiprocessing.Hosting;

/// <summary>
/// The settings of a <see cref="ProcessPool"/> registered with
/// <c>services.AddProcessPool(…)</c> (<see cref="Microsoft.Extensions.DependencyInjection.ProcessPoolServiceCollectionExtensions"/>):
/// a mutable, configuration-bindable mirror of <see cref="ProcessPoolOptions"/> (which is an
/// immutable record and so cannot be bound or configured in place).
/// </summary>
/// <remarks>
/// A property left null keeps the <see cref="ProcessPoolOptions"/> default. Time spans bind from
/// strings such as <c>"00:00:30"</c>. Values are checked when the host starts: an out-of-range one
/// fails the start with an <see cref="Microsoft.Extensions.Options.OptionsValidationException"/>
/// that names it.
/// </remarks>
/// <example>
/// <code>
/// // appsettings.json
/// { "ProcessPool": { "Workers": 4, "MaxTasksPerWorker": 1000, "TaskTimeout": "00:00:30" } }
/// </code>
/// </example>
public sealed class ProcessPoolSettings
{
    /// <summary>The configuration section that <c>AddProcessPool(configuration)</c> binds by convention.</summary>
    public const string SectionName = "ProcessPool";

    /// <inheritdoc cref="ProcessPoolOptions.Name"/>
    public string? Name { get; set; }

    /// <inheritdoc cref="ProcessPoolOptions.Workers"/>
    /// <value>The default is null: <see cref="Environment.ProcessorCount"/>.</value>
    public int? Workers { get; set; }

    /// <inheritdoc cref="ProcessPoolOptions.MaxTasksPerWorker"/>
    public int? MaxTasksPerWorker { get; set; }

    /// <inheritdoc cref="ProcessPoolOptions.TaskTimeout"/>
    public TimeSpan? TaskTimeout { get; set; }

    /// <inheritdoc cref="ProcessPoolOptions.WorkerMemoryLimit"/>
    public long? WorkerMemoryLimit { get; set; }

    /// <inheritdoc cref="ProcessPoolOptions.CancellationGracePeriod"/>
    /// <value>The default is null: 5 seconds.</value>
    public TimeSpan? CancellationGracePeriod { get; set; }

    /// <inheritdoc cref="ProcessPoolOptions.WorkerStartTimeout"/>
    /// <value>The default is null: 60 seconds.</value>
    public TimeSpan? WorkerStartTimeout { get; set; }

    /// <summary>
    /// When the host stops, how long tasks that are already running may take to finish before their
    /// workers are killed (<see cref="ProcessPoolOptions.ShutdownTimeout"/>). Keep it below the
    /// host's own shutdown time-out (30 seconds by default), or the host stops waiting first.
    /// </summary>
    /// <value>The default is null: 10 seconds.</value>
    public TimeSpan? ShutdownTimeout { get; set; }

    /// <inheritdoc cref="ProcessPoolOptions.MaxMessageSize"/>
    /// <value>The default is null: 1 GiB.</value>
    public long? MaxMessageSize { get; set; }

    /// <inheritdoc cref="ProcessPoolOptions.EnableWorkerDiagnostics"/>
    public bool EnableWorkerDiagnostics { get; set; }

    /// <inheritdoc cref="ProcessPoolOptions.WorkerEnvironment"/>
    public Dictionary<string, string?> WorkerEnvironment { get; } = [];

    private Func<ProcessPoolOptions, ProcessPoolOptions>? _withInitializer;
    private Action? _initializer;

    /// <summary>
    /// Set in code (a delegate does not come from configuration): see <see cref="ProcessPoolOptions.Initializer"/>.
    /// Setting it replaces an initializer set with <see cref="SetInitializer{TArg}(Action{TArg}, TArg)"/>.
    /// </summary>
    /// <value>The default is null.</value>
    public Action? Initializer
    {
        get => _initializer;
        set
        {
            _initializer = value;
            _withInitializer = null;
        }
    }

    /// <summary>
    /// Set in code: gives every worker an initializer that takes <paramref name="argument"/>, as
    /// <see cref="ProcessPoolOptions.WithInitializer{TArg}(Action{TArg}, TArg)"/> does; replaces <see cref="Initializer"/>.
    /// </summary>
    /// <typeparam name="TArg">The argument type.</typeparam>
    /// <param name="initializer">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">What the initializer is given in every worker; serialised when the pool is created.</param>
    /// <exception cref="ArgumentNullException"><paramref name="initializer"/> is null.</exception>
    public void SetInitializer<TArg>(Action<TArg> initializer, TArg argument)
    {
        ArgumentNullException.ThrowIfNull(initializer);
        _initializer = null;
        _withInitializer = options => options.WithInitializer(initializer, argument);
    }

    /// <summary>Set in code: see <see cref="ProcessPoolOptions.WorkerExit"/>.</summary>
    /// <value>The default is null.</value>
    public Action? WorkerExit { get; set; }

    /// <summary>Set in code: see <see cref="ProcessPoolOptions.Serializer"/>.</summary>
    /// <value>The default is null.</value>
    public IWorkerSerializer? Serializer { get; set; }

    /// <summary>Set in code: see <see cref="ProcessPoolOptions.JsonContext"/>.</summary>
    /// <value>The default is null.</value>
    public System.Text.Json.Serialization.Metadata.IJsonTypeInfoResolver? JsonContext { get; set; }

    /// <summary>Builds the pool's options from these settings.</summary>
    /// <param name="loggerFactory">Where the pool logs; usually the host's.</param>
    /// <returns>The options, with every null setting at its default.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range (the message names it).</exception>
    public ProcessPoolOptions ToOptions(ILoggerFactory? loggerFactory = null)
    {
        var defaults = new ProcessPoolOptions();
        var options = new ProcessPoolOptions
        {
            Name = Name,
            Workers = Workers ?? defaults.Workers,
            MaxTasksPerWorker = MaxTasksPerWorker,
            TaskTimeout = TaskTimeout,
            WorkerMemoryLimit = WorkerMemoryLimit,
            CancellationGracePeriod = CancellationGracePeriod ?? defaults.CancellationGracePeriod,
            WorkerStartTimeout = WorkerStartTimeout ?? defaults.WorkerStartTimeout,
            ShutdownTimeout = ShutdownTimeout ?? defaults.ShutdownTimeout,
            MaxMessageSize = MaxMessageSize ?? defaults.MaxMessageSize,
            EnableWorkerDiagnostics = EnableWorkerDiagnostics,
            WorkerEnvironment = new Dictionary<string, string?>(WorkerEnvironment),
            Initializer = Initializer,
            WorkerExit = WorkerExit,
            Serializer = Serializer,
            JsonContext = JsonContext,
            LoggerFactory = loggerFactory,
        };
        return _withInitializer?.Invoke(options) ?? options;
    }
}
