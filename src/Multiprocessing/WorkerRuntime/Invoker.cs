using System.Diagnostics;
using System.Reflection;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;

namespace Multiprocessing.WorkerRuntime;

/// <summary>Runs one registered method over the items of a Run frame, in the worker.</summary>
internal abstract class Invoker
{
    /// <summary>The method's declaring type and name, for the run span's tag.</summary>
    public string MethodName { get; set; } = "";

    /// <summary>Runs <paramref name="count"/> items; writes their results into <paramref name="results"/>, or returns one error.</summary>
    /// <returns>Null on success, or the failure to report.</returns>
    public abstract (ErrorKind Kind, int Item, Exception Error)? Run(ReadOnlySpan<byte> items, int count, long firstItem, WorkerStatus status, CancellationToken cancellationToken, ResultFrames results);

    public static Invoker Create(Delegate function, CodecProvider codecs)
    {
        TaskShape shape = TaskShape.Of(function.GetType());
        MethodInfo factory = typeof(Invoker).GetMethod(nameof(CreateTyped), BindingFlags.NonPublic | BindingFlags.Static)!
            .MakeGenericMethod(shape.ArgumentType, shape.ResultType);
        try
        {
            return (Invoker)factory.Invoke(null, [function, shape.Return, codecs])!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }

    private static Invoker CreateTyped<TArg, TResult>(Delegate function, ReturnKind kind, CodecProvider codecs) => kind switch
    {
        ReturnKind.Value => new Invoker<TArg, TResult>(Normalize<TArg, TResult>(function), null, codecs),
        ReturnKind.Void => new Invoker<TArg, TResult>((Func<TArg, CancellationToken, TResult>)(object)VoidToUnit(NormalizeAction<TArg>(function)), null, codecs),
        ReturnKind.TaskOfValue => new Invoker<TArg, TResult>(null, FromTask(Normalize<TArg, Task<TResult>>(function)), codecs),
        ReturnKind.ValueTaskOfValue => new Invoker<TArg, TResult>(null, Normalize<TArg, ValueTask<TResult>>(function), codecs),
        ReturnKind.Task => new Invoker<TArg, TResult>(null, (Func<TArg, CancellationToken, ValueTask<TResult>>)(object)FromTask(Normalize<TArg, Task>(function)), codecs),
        _ => new Invoker<TArg, TResult>(null, (Func<TArg, CancellationToken, ValueTask<TResult>>)(object)FromValueTask(Normalize<TArg, ValueTask>(function)), codecs),
    };

    /// <summary>
    /// Never called: it names the invokers of the commonest value-type shapes, so that the
    /// ReadyToRun compiler (build/ReadyToRun.targets) precompiles them and a fresh worker does not
    /// JIT-compile the invoker, its closures and its codecs between receiving its first task and
    /// running it. Reference types share one precompiled body (__Canon) already; a shape not named
    /// here is JIT-compiled on first use, as before.
    /// </summary>
    private static void PrecompiledShapes()
    {
        Shapes<int>();
        Shapes<long>();
        Shapes<double>();
        Shapes<string>();
        _ = CreateTyped<string, Unit>(null!, default, null!);
        // CodecProvider makes these by reflection, which the compiler cannot follow.
        _ = new UnmanagedCodec<int>();
        _ = new UnmanagedCodec<long>();
        _ = new UnmanagedCodec<double>();
        _ = new UnmanagedCodec<bool>();

        static void Shapes<TArg>()
        {
            _ = CreateTyped<TArg, int>(null!, default, null!);
            _ = CreateTyped<TArg, long>(null!, default, null!);
            _ = CreateTyped<TArg, double>(null!, default, null!);
            _ = CreateTyped<TArg, bool>(null!, default, null!);
            _ = CreateTyped<TArg, Unit>(null!, default, null!);
        }
    }

    /// <summary>Every Func shape, with or without argument and token, as one (argument, token) → result function.</summary>
    private static Func<TArg, CancellationToken, TReturn> Normalize<TArg, TReturn>(Delegate function) => function switch
    {
        Func<TArg, CancellationToken, TReturn> f => f,
        Func<TArg, TReturn> f => (argument, _) => f(argument),
        Func<CancellationToken, TReturn> f => (_, token) => f(token),
        Func<TReturn> f => (_, _) => f(),
        _ => throw new NotSupportedException($"Delegate type {function.GetType()} is not a supported task shape."),
    };

    private static Action<TArg, CancellationToken> NormalizeAction<TArg>(Delegate function) => function switch
    {
        Action<TArg, CancellationToken> f => f,
        Action<TArg> f => (argument, _) => f(argument),
        Action<CancellationToken> f => (_, token) => f(token),
        Action f => (_, _) => f(),
        _ => throw new NotSupportedException($"Delegate type {function.GetType()} is not a supported task shape."),
    };

    private static Func<TArg, CancellationToken, Unit> VoidToUnit<TArg>(Action<TArg, CancellationToken> action) => (argument, token) =>
    {
        action(argument, token);
        return default;
    };

    private static Func<TArg, CancellationToken, ValueTask<TResult>> FromTask<TArg, TResult>(Func<TArg, CancellationToken, Task<TResult>> f) =>
        (argument, token) => new ValueTask<TResult>(f(argument, token));

    private static Func<TArg, CancellationToken, ValueTask<Unit>> FromTask<TArg>(Func<TArg, CancellationToken, Task> f) =>
        async (argument, token) =>
        {
            await f(argument, token).ConfigureAwait(false);
            return default;
        };

    private static Func<TArg, CancellationToken, ValueTask<Unit>> FromValueTask<TArg>(Func<TArg, CancellationToken, ValueTask> f) =>
        async (argument, token) =>
        {
            await f(argument, token).ConfigureAwait(false);
            return default;
        };
}

internal sealed class Invoker<TArg, TResult> : Invoker
{
    private readonly Func<TArg, CancellationToken, TResult>? _sync;
    private readonly Func<TArg, CancellationToken, ValueTask<TResult>>? _async;
    private readonly Codec<TArg> _arguments;
    private readonly Codec<TResult> _results;

    public Invoker(Func<TArg, CancellationToken, TResult>? sync, Func<TArg, CancellationToken, ValueTask<TResult>>? async, CodecProvider codecs)
    {
        Debug.Assert(sync is not null ^ async is not null);
        _sync = sync;
        _async = async;
        _arguments = codecs.Get<TArg>();
        _results = codecs.Get<TResult>();
    }

    public override (ErrorKind Kind, int Item, Exception Error)? Run(ReadOnlySpan<byte> items, int count, long firstItem, WorkerStatus status, CancellationToken cancellationToken, ResultFrames results)
    {
        PayloadWriter output = results.Output;
        var reader = new PayloadReader(items);
        for (int i = 0; i < count; i++)
        {
            TArg argument;
            try
            {
                argument = _arguments.Read(ref reader);
            }
            catch (Exception e)
            {
                return (ErrorKind.ArgumentNotReadable, i, e);
            }
            status.BeginItem(firstItem + i + 1);
            TResult result;
            try
            {
                if (_sync is not null)
                {
                    result = _sync(argument, cancellationToken);
                }
                else
                {
                    ValueTask<TResult> pending = _async!(argument, cancellationToken);
                    result = pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
                }
            }
            catch (Exception e)
            {
                return (ErrorKind.TaskThrew, i, e);
            }
            int start = output.Position;
            try
            {
                _results.Write(output, result);
            }
            catch (Exception e)
            {
                return (ErrorKind.ResultNotSerializable, i, e);
            }
            if (results.Add(start) is { } tooLarge)
            {
                return (ErrorKind.ResultTooLarge, i, tooLarge);
            }
        }
        return null;
    }
}
