using System.Reflection;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;

namespace Multiprocessing.WorkerRuntime;

/// <summary>
/// The pool's code that runs in a worker around its tasks: the initializer, once, when the Init frame
/// arrives; the worker-exit hook (<c>ProcessPoolOptions.WorkerExit</c>) when the worker ends
/// normally. A <c>WorkerProcess</c>'s Init frame has neither.
/// </summary>
internal sealed class WorkerHooks
{
    // The worker-exit hook (a delegate, or the exception that resolving it threw) and its time.
    private object? _workerExit;
    private TimeSpan _workerExitTimeout;

    /// <summary>Reads the hooks from the rest of the Init frame and runs the initializer, if there is one.</summary>
    /// <param name="reader">The Init frame, at its initializer.</param>
    /// <param name="hasInitializer">Whether the frame carries an initializer.</param>
    /// <param name="codecs">The pool's codecs, for the initializer's argument.</param>
    /// <exception cref="Exception">What the initializer threw, or why it could not be loaded: the worker reports it as InitFailed.</exception>
    public void Start(ref PayloadReader reader, bool hasInitializer, CodecProvider codecs)
    {
        if (!hasInitializer)
        {
            ReadWorkerExit(ref reader);
            return;
        }
        Delegate initializer = TaskMethod.Resolve(ref reader);
        byte[]? argument = reader.Read<bool>() ? reader.ReadBytes(reader.Read<int>()).ToArray() : null;
        ReadWorkerExit(ref reader);
        if (argument is not null)
        {
            // Action<TArg> or Func<TArg, Task>: the argument is read with the codec of its declared type.
            Type argumentType = initializer.GetType().GetGenericArguments()[0];
            typeof(WorkerHooks).GetMethod(nameof(RunInitializer), BindingFlags.NonPublic | BindingFlags.Static)!
                .MakeGenericMethod(argumentType)
                .CreateDelegate<Action<Delegate, byte[], CodecProvider>>()(initializer, argument, codecs);
        }
        else
        {
            RunHook(initializer);
        }
    }

    /// <summary>
    /// Runs the pool's worker-exit hook, for at most the pool's ShutdownTimeout. On its own thread so
    /// that a hook that hangs cannot keep the worker: once the time is up, the worker exits without it.
    /// </summary>
    /// <returns>What the pool is told: the hook's exception, its time-out, or why it could not be loaded; null if it ran (or there is none).</returns>
    public Exception? RunWorkerExit()
    {
        object? hook = _workerExit;
        if (hook is null)
        {
            return null;
        }
        Exception? error = hook as Exception;
        if (hook is Delegate method)
        {
            Exception? thrown = null;
            var thread = new Thread(() =>
            {
                try
                {
                    RunHook(method);
                }
                catch (Exception e)
                {
                    thrown = e;
                }
            }) { IsBackground = true, Name = "mp worker exit" };
            thread.Start();
            double milliseconds = _workerExitTimeout.TotalMilliseconds;
            bool returned = thread.Join(milliseconds >= int.MaxValue ? Timeout.Infinite : (int)milliseconds);
            error = returned ? thrown : new TimeoutException(
                $"It did not return within the pool's ShutdownTimeout of {_workerExitTimeout.TotalSeconds:0.###} s; the worker exited without waiting for it.");
        }
        return error;
    }

    /// <summary>Reads the pool's worker-exit hook, if the Init frame has one (a WorkerProcess's has none).</summary>
    private void ReadWorkerExit(ref PayloadReader reader)
    {
        if (!reader.Read<bool>())
        {
            return;
        }
        try
        {
            _workerExit = TaskMethod.Resolve(ref reader);
        }
        catch (InvalidOperationException e)
        {
            // Reported when the hook is due, as its failure, not as the initializer's.
            _workerExit = e;
        }
        _workerExitTimeout = TimeSpan.FromTicks(reader.Read<long>());
    }

    /// <summary>Runs a hook that takes no argument (an initializer or a worker-exit hook): an <see cref="Action"/>, or a <see cref="Func{Task}"/> awaited on this thread.</summary>
    private static void RunHook(Delegate hook)
    {
        switch (hook)
        {
            case Action action:
                action();
                break;
            case Func<Task> asynchronous:
                asynchronous().GetAwaiter().GetResult();
                break;
        }
    }

    private static void RunInitializer<TArg>(Delegate initializer, byte[] argument, CodecProvider codecs)
    {
        var reader = new PayloadReader(argument);
        TArg value = codecs.Get<TArg>().Read(ref reader);
        switch (initializer)
        {
            case Action<TArg> action:
                action(value);
                break;
            case Func<TArg, Task> asynchronous:
                asynchronous(value).GetAwaiter().GetResult();
                break;
        }
    }
}
