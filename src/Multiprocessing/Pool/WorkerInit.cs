using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;

namespace Multiprocessing.Pool;

/// <summary>
/// What every worker of a pool, replacements included, is told before its first task: the Init
/// frame's body. Checked and encoded once, when the pool is created, so a bad hook or initializer
/// argument fails the constructor and every worker gets the same bytes.
/// </summary>
internal sealed class WorkerInit
{
    private readonly InitBody _body;

    /// <exception cref="ArgumentException">A hook captures state or is not static, or the initializer's argument is over MaxMessageSize.</exception>
    /// <exception cref="System.Runtime.Serialization.SerializationException">The initializer's argument cannot be serialised.</exception>
    public WorkerInit(ProcessPoolOptions options, CodecProvider codecs)
    {
        TaskMethod? initializer = options.InitializerCall is { } call ? TaskMethod.From(call.Method, nameof(ProcessPoolOptions.Initializer))
            : options.Initializer is null ? null : TaskMethod.From(options.Initializer, nameof(ProcessPoolOptions.Initializer));
        byte[]? argument = options.InitializerCall?.SerializeArgument(codecs, options.MaxMessageSize);
        TaskMethod? workerExit = options.WorkerExit is null ? null : TaskMethod.From(options.WorkerExit, nameof(ProcessPoolOptions.WorkerExit));
        _body = new InitBody(SerializerTypes.NameOf(options.Serializer), SerializerTypes.NameOf(options.JsonContext), options.WorkerMemoryLimit is not null,
            initializer, argument, workerExit, options.ShutdownTimeout);
    }

    /// <summary>The method each worker runs once before its first task, or null.</summary>
    public TaskMethod? Initializer => _body.Initializer;

    /// <summary>The method each worker runs as it exits normally, or null.</summary>
    public TaskMethod? WorkerExit => _body.WorkerExit;

    public void Write(PayloadWriter writer) => _body.Write(writer);
}
