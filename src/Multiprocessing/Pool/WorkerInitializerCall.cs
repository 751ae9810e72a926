using Multiprocessing.Payload;
using Multiprocessing.Serialization;

namespace Multiprocessing;

/// <summary>An initializer and the argument each worker calls it with (see <see cref="ProcessPoolOptions.WithInitializer{TArg}(Action{TArg}, TArg)"/>).</summary>
internal abstract class WorkerInitializerCall(Delegate method)
{
    public Delegate Method { get; } = method;

    public abstract object? Argument { get; }

    /// <summary>Serialises the argument as a task's argument is, with the same checks and errors.</summary>
    /// <exception cref="System.Runtime.Serialization.SerializationException">The argument cannot be serialised.</exception>
    /// <exception cref="ArgumentException">The argument serialises to more than <paramref name="maxMessageSize"/> bytes.</exception>
    public abstract byte[] SerializeArgument(CodecProvider codecs, long maxMessageSize);
}

internal sealed class WorkerInitializerCall<TArg>(Delegate method, TArg argument) : WorkerInitializerCall(method)
{
    public override object? Argument => argument;

    public override byte[] SerializeArgument(CodecProvider codecs, long maxMessageSize)
    {
        var writer = new PayloadWriter(64);
        TaskArguments.WriteWithin(codecs.Get<TArg>(), writer, argument, maxMessageSize, nameof(argument));
        return writer.WrittenSpan.ToArray();
    }
}
