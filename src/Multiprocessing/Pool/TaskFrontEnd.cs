using System.Diagnostics;
using System.Runtime.Serialization;
using Multiprocessing.Payload;
using Multiprocessing.Scheduling;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;
using Multiprocessing.Worker;

namespace Multiprocessing.Pool;

/// <summary>
/// What every pool does with a call before the scheduler sees it, whatever runs the work (this
/// machine's workers, or nodes of a cluster): checks and registers the method, encodes the argument
/// or the map's chunks, starts the call's span, counts the calls in progress for a graceful close,
/// and hands the work items to the scheduler. The public overloads of a pool forward here.
/// </summary>
/// <remarks>Validation happens synchronously, so a bad delegate or argument throws at the call and not at the await.</remarks>
internal sealed class TaskFrontEnd
{
    private readonly object _pool;
    private readonly CodecProvider _codecs;
    private readonly Func<int> _workers;
    private readonly Lock _methodsLock = new();
    private readonly Dictionary<(System.Reflection.MethodInfo, Type), RegisteredMethod> _methods = [];
    private int _nextMethodId;
    // Submits and maps the caller has started and not yet seen end; CloseAsync waits for zero.
    private int _operations;
    private TaskCompletionSource? _closing;

    /// <param name="pool">The public pool, named in ObjectDisposedException.</param>
    /// <param name="scheduler">Where the work goes.</param>
    /// <param name="codecs">How arguments and results are encoded.</param>
    /// <param name="name">The pool's name, for spans.</param>
    /// <param name="maxMessageSize">The largest message a task may send.</param>
    /// <param name="maxTasksPerWorker">A cap on a map's chunk size (a worker recycles after this many items).</param>
    /// <param name="workers">How many executors' worth of workers there are now (sizes a map's chunks).</param>
    public TaskFrontEnd(object pool, Scheduler scheduler, CodecProvider codecs, string? name, long maxMessageSize, int? maxTasksPerWorker, Func<int> workers)
    {
        _pool = pool;
        Scheduler = scheduler;
        _codecs = codecs;
        Name = name;
        MaxMessageSize = maxMessageSize;
        MaxTasksPerWorker = maxTasksPerWorker;
        _workers = workers;
    }

    public Scheduler Scheduler { get; }

    public string? Name { get; }

    public long MaxMessageSize { get; }

    public int? MaxTasksPerWorker { get; }

    /// <summary>Workers that run the work now, for chunk sizes.</summary>
    public int Workers => Math.Max(1, _workers());

    public Task<TResult> Submit<T, TResult>(Delegate func, T argument, CancellationToken cancellationToken)
    {
        RegisteredMethod method = Register<T, TResult>(func, nameof(func));
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<TResult>(cancellationToken);
        }
        // The task carries the submit span's context, or the caller's when nothing records the pool's spans.
        Activity? span = PoolTracing.StartCallSpan(ProcessPoolActivities.SubmitActivityName, method, Name);
        var writer = new PayloadWriter(Protocol.RunHeaderSize + 16);
        bool traced = Protocol.BeginRun(writer, span ?? Activity.Current);
        try
        {
            TaskArguments.WriteWithin(_codecs.Get<T>(), writer, argument, MaxMessageSize, nameof(argument));
            BeginOperation();
        }
        catch (Exception e) when (span is not null && PoolTracing.StopFiltered(span, e))
        {
            throw; // not reached: the filter ends the span and lets the exception pass
        }
        Protocol.EndRun(writer, 1, traced);
        var owner = new SubmitOwner<TResult>(_codecs.Get<TResult>(), this) { Span = span };
        var item = new WorkItem(method, writer.Buffer, writer.Position, 1, firstItem: -1, owner);
        if (cancellationToken.CanBeCanceled)
        {
            owner.Registration = cancellationToken.Register(() =>
            {
                if (owner.TrySetCanceled(cancellationToken))
                {
                    owner.Ended();
                    Scheduler.Abandon(item);
                }
            });
        }
        Scheduler.Enqueue(item);
        return owner.Task;
    }

    public Task<TResult[]> Map<T, TResult>(Delegate func, IEnumerable<T> items, MapOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        RegisteredMethod method = Register<T, TResult>(func, nameof(func));
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<TResult[]>(cancellationToken);
        }
        BeginOperation();
        return MapAsync<T, TResult>(method, items, options, cancellationToken);
    }

    private async Task<TResult[]> MapAsync<T, TResult>(RegisteredMethod method, IEnumerable<T> items, MapOptions? options, CancellationToken cancellationToken)
    {
        Activity? span = PoolTracing.StartCallSpan(ProcessPoolActivities.MapActivityName, method, Name);
        Exception? error = null;
        try
        {
            return await MapAllAsync<T, TResult>(method, items, options, span ?? Activity.Current, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (span is not null)
        {
            error = e;
            throw;
        }
        finally
        {
            if (span is not null)
            {
                PoolTracing.Stop(span, error);
            }
            EndOperation();
        }
    }

    private async Task<TResult[]> MapAllAsync<T, TResult>(RegisteredMethod method, IEnumerable<T> items, MapOptions? options, Activity? trace, CancellationToken cancellationToken)
    {
        long? total = items.TryGetNonEnumeratedCount(out int count) ? count : null;
        var run = new MapRun<T, TResult>(this, method, _codecs, options, total, cancellationToken) { Trace = trace };
        if (total is long known)
        {
            var results = new TResult[known];
            await run.RunIntoAsync(items.GetEnumerator(), results, cancellationToken).ConfigureAwait(false);
            return results;
        }
        var list = new List<TResult>();
        await foreach ((long _, TResult[] values) in run.ChunksAsync(items.GetEnumerator(), null, ordered: true).ConfigureAwait(false))
        {
            list.AddRange(values);
        }
        return [.. list];
    }

    public IAsyncEnumerable<TResult> Stream<T, TResult>(Delegate func, IEnumerable<T>? items, IAsyncEnumerable<T>? asyncItems, MapOptions? options, CancellationToken cancellationToken)
    {
        if (items is null && asyncItems is null)
        {
            throw new ArgumentNullException(nameof(items));
        }
        RegisteredMethod method = Register<T, TResult>(func, nameof(func));
        ThrowIfClosing();
        return StreamAsync<T, TResult>(method, items, asyncItems, options, cancellationToken);
    }

    private async IAsyncEnumerable<TResult> StreamAsync<T, TResult>(RegisteredMethod method, IEnumerable<T>? items, IAsyncEnumerable<T>? asyncItems, MapOptions? options, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Counted from the first read, not from the call: a stream nobody enumerates must not hold up CloseAsync.
        BeginOperation();
        Activity? span = PoolTracing.StartCallSpan(ProcessPoolActivities.MapActivityName, method, Name);
        bool completed = false;
        try
        {
            var run = new MapRun<T, TResult>(this, method, _codecs, options, null, cancellationToken) { Trace = span ?? Activity.Current };
            await foreach ((long _, TResult[] values) in run.ChunksAsync(items?.GetEnumerator(), asyncItems?.GetAsyncEnumerator(cancellationToken), options?.Ordered ?? true).ConfigureAwait(false))
            {
                foreach (TResult value in values)
                {
                    yield return value;
                }
            }
            completed = true;
        }
        finally
        {
            if (span is not null)
            {
                // An iterator cannot catch around a yield: a stream that did not finish failed, or was abandoned.
                if (!completed)
                {
                    span.SetStatus(ActivityStatusCode.Error, "the stream ended before its last result");
                }
                PoolTracing.Stop(span, null);
            }
            EndOperation();
        }
    }

    private void BeginOperation()
    {
        Interlocked.Increment(ref _operations);
        if (Volatile.Read(ref _closing) is not null)
        {
            EndOperation();
            ThrowIfClosing();
        }
    }

    /// <summary>A call has ended (its result, error or cancellation reached the caller).</summary>
    internal void EndOperation()
    {
        // Decrement, then read: with CloseAsync's store-then-read, one of the two sees the other.
        if (Interlocked.Decrement(ref _operations) == 0)
        {
            Volatile.Read(ref _closing)?.TrySetResult();
        }
    }

    private void ThrowIfClosing()
    {
        ObjectDisposedException.ThrowIf(Scheduler.IsClosed, _pool);
        if (Volatile.Read(ref _closing) is not null)
        {
            throw new InvalidOperationException("The pool is closing (CloseAsync was called): it takes no new work. Submit before closing it, or to another pool.");
        }
    }

    /// <summary>Takes no new calls from now on; completes when every call in progress has ended.</summary>
    public Task StopTakingCallsAsync()
    {
        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        TaskCompletionSource idle = Interlocked.CompareExchange(ref _closing, created, null) ?? created;
        if (Volatile.Read(ref _operations) == 0)
        {
            idle.TrySetResult();
        }
        return idle.Task;
    }

    private RegisteredMethod Register<T, TResult>(Delegate func, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(func, parameterName);
        ObjectDisposedException.ThrowIf(Scheduler.IsClosed, _pool);
        lock (_methodsLock)
        {
            if (_methods.TryGetValue((func.Method, func.GetType()), out RegisteredMethod? known))
            {
                return known;
            }
        }
        TaskMethod method = TaskMethod.From(func, parameterName);
        method.EnsureTransferable(_codecs, typeof(T), typeof(TResult), parameterName);
        lock (_methodsLock)
        {
            if (!_methods.TryGetValue((func.Method, func.GetType()), out RegisteredMethod? registered))
            {
                int id = ++_nextMethodId;
                registered = new RegisteredMethod(id, method, method.RegisterFrame(id));
                _methods[(func.Method, func.GetType())] = registered;
            }
            return registered;
        }
    }
}
