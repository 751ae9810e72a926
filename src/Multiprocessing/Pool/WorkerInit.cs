using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;
using Multiprocessing.Worker;

namespace Multiprocessing.Pool;

/// <summary>
/// What every worker of a pool, replacements included, is told before its first task: the Init
/// frame's body. Checked and encoded once, when the pool is created, so a bad hook or initializer
/// argument fails the constructor and every worker gets the same bytes.
/// </summary>
internal sealed class WorkerInit
{
    private readonly ProcessPoolOptions _options;
    private readonly byte[]? _initializerArgument;

    /// <exception cref="ArgumentException">A hook captures state or is not static, or the initializer's argument is over MaxMessageSize.</exception>
    /// <exception cref="System.Runtime.Serialization.SerializationException">The initializer's argument cannot be serialised.</exception>
    public WorkerInit(ProcessPoolOptions options, CodecProvider codecs)
    {
        _options = options;
        Initializer = options.InitializerCall is { } call ? TaskMethod.From(call.Method, nameof(ProcessPoolOptions.Initializer))
            : options.Initializer is null ? null : TaskMethod.From(options.Initializer, nameof(ProcessPoolOptions.Initializer));
        _initializerArgument = options.InitializerCall?.SerializeArgument(codecs, options.MaxMessageSize);
        WorkerExit = options.WorkerExit is null ? null : TaskMethod.From(options.WorkerExit, nameof(ProcessPoolOptions.WorkerExit));
    }

    /// <summary>The method each worker runs once before its first task, or null.</summary>
    public TaskMethod? Initializer { get; }

    /// <summary>The method each worker runs as it exits normally, or null.</summary>
    public TaskMethod? WorkerExit { get; }

    public void Write(PayloadWriter writer)
    {
        writer.WriteString(SerializerTypes.NameOf(_options.Serializer));
        writer.WriteString(SerializerTypes.NameOf(_options.JsonContext));
        writer.Write(_options.WorkerMemoryLimit is not null);
        writer.Write(Initializer is not null);
        if (Initializer is not null)
        {
            Initializer.Write(writer);
            writer.Write(_initializerArgument is not null);
            if (_initializerArgument is not null)
            {
                writer.Write(_initializerArgument.Length);
                writer.WriteBytes(_initializerArgument);
            }
        }
        writer.Write(WorkerExit is not null);
        if (WorkerExit is not null)
        {
            WorkerExit.Write(writer);
            writer.Write(_options.ShutdownTimeout.Ticks);
        }
    }
}
