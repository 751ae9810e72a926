using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.Serialization;
using System.Threading.Channels;
using Multiprocessing.Payload;
using Multiprocessing.Scheduling;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;
using Multiprocessing.Worker;

namespace Multiprocessing.Pool;

/// <summary>
/// One map over a (possibly lazy, possibly endless) input: a producer reads items only while the
/// look-ahead bound allows, serialises them into chunks and queues those on the pool; completed
/// chunks come back through a channel and are handed out in input order or as they finish.
/// Memory stays bounded by the look-ahead, whatever the input's length.
/// </summary>
internal sealed class MapRun<T, TResult> : IWorkItemOwner
{
    private const double TargetChunkSeconds = 0.002;
    private const int MaxAdaptiveChunk = 4096;

    /// <summary>Chunks of an in-memory input queued before they are sent together.</summary>
    private const int BurstLength = 32;

    private readonly TaskFrontEnd _front;
    private readonly RegisteredMethod _method;
    private readonly Codec<T> _arguments;
    private readonly Codec<TResult> _results;
    private readonly MapOptions _options;
    private readonly long? _total;
    private readonly int _workers;
    private readonly long _maxMessage;
    private readonly int? _fixedChunk;
    private readonly Channel<Outcome> _outcomes = Channel.CreateUnbounded<Outcome>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop;
    private readonly Lock _lock = new();
    private readonly HashSet<WorkItem> _outstanding = [];
    private int _chunksInFlight;
    private long _itemsInFlight;
    private long _completed;
    private bool _producerDone;
    // Why the input ended early (it threw, or an item could not be sent). It ends the map only
    // after every chunk read before it has been delivered, so that the caller sees the results of
    // all earlier items, in order, and then this; delivered at once, it overtook results in flight.
    private Exception? _inputError;
    private TaskCompletionSource? _capacity;
    private int _resumeChunks;
    private long _resumeItems;
    private int _lastChunk;

    // A map into an array of known length (MapAsync) takes its results straight into that array
    // on the thread that reads them, and completes once: no channel, and no thread-pool hop per
    // finished chunk to a consumer that only copies (the hop cost a tiny-task map a third of its rate).
    private TResult[]? _sink;
    private TaskCompletionSource? _sunk;

    private readonly record struct Outcome(long FirstItem, TResult[]? Values, Exception? Error);

    public MapRun(TaskFrontEnd front, RegisteredMethod method, CodecProvider codecs, MapOptions? options, long? total, CancellationToken cancellationToken)
    {
        _front = front;
        int? maxTasksPerWorker = front.MaxTasksPerWorker;
        _method = method;
        _arguments = codecs.Get<T>();
        _results = codecs.Get<TResult>();
        _options = options ?? new MapOptions();
        _total = total;
        _workers = front.Workers;
        _maxMessage = front.MaxMessageSize;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _fixedChunk = _options.ChunkSize
            ?? (total is long n ? (int)Math.Clamp((n + 4L * _workers - 1) / (4L * _workers), 1, int.MaxValue) : null);
        if (_fixedChunk is int chunk && options?.ChunkSize is null && maxTasksPerWorker is int max)
        {
            _fixedChunk = Math.Min(chunk, max);
        }
    }

    /// <summary>The activity whose trace context each chunk carries to its worker (the map's span, or the caller's activity); null when untraced.</summary>
    public System.Diagnostics.Activity? Trace { get; init; }

    /// <summary>Completed chunks: the index of each chunk's first item and its results.</summary>
    public async IAsyncEnumerable<(long FirstItem, TResult[] Values)> ChunksAsync(IEnumerator<T>? items, IAsyncEnumerator<T>? asyncItems, bool ordered, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        _ = cancellationToken;
        _ = Task.Run(() => ProduceAsync(items, asyncItems));
        var early = new Dictionary<long, Outcome>();
        long next = 0;
        try
        {
            while (await _outcomes.Reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                while (_outcomes.Reader.TryRead(out Outcome outcome))
                {
                    if (outcome.Error is not null)
                    {
                        throw outcome.Error;
                    }
                    if (!ordered)
                    {
                        yield return (outcome.FirstItem, outcome.Values!);
                        Release(outcome.Values!.Length);
                        continue;
                    }
                    early[outcome.FirstItem] = outcome;
                    while (early.Remove(next, out Outcome inOrder))
                    {
                        yield return (inOrder.FirstItem, inOrder.Values!);
                        next += inOrder.Values!.Length;
                        Release(inOrder.Values.Length);
                    }
                }
            }
            Exception? inputError;
            lock (_lock)
            {
                inputError = _inputError;
            }
            if (inputError is not null)
            {
                ExceptionDispatchInfo.Throw(inputError);
            }
        }
        finally
        {
            Stop();
        }
    }

    /// <summary>Runs the whole map into <paramref name="results"/> (one slot per input item, in input order).</summary>
    public async Task RunIntoAsync(IEnumerator<T> items, TResult[] results, CancellationToken cancellationToken)
    {
        _sink = results;
        _sunk = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = Task.Run(() => ProduceAsync(items, null));
        try
        {
            await _sunk.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Stop();
        }
    }

    /// <summary>Stops reading input and abandons every chunk still queued or running.</summary>
    private void Stop()
    {
        _stop.Cancel();
        WorkItem[] outstanding;
        lock (_lock)
        {
            outstanding = [.. _outstanding];
            _outstanding.Clear();
            _capacity?.TrySetResult();
        }
        foreach (WorkItem item in outstanding)
        {
            _front.Scheduler.Abandon(item);
        }
    }

    private async Task ProduceAsync(IEnumerator<T>? items, IAsyncEnumerator<T>? asyncItems)
    {
        long firstItem = 0;
        // An input of known length is in memory: reading the next item never blocks, so chunks can
        // leave in bursts of one write per worker. A lazy input may block between items, and a
        // chunk must not wait unsent behind it, so each of its chunks is sent at once.
        bool burst = _total is not null;
        int unsent = 0;
        Exception? inputError = null;
        try
        {
            bool exhausted = false;
            while (!exhausted)
            {
                int size = NextChunkSize();
                if (await WaitForCapacityAsync(size, flushFirst: unsent > 0).ConfigureAwait(false))
                {
                    unsent = 0;
                }
                var writer = new PayloadWriter(Protocol.RunHeaderSize + size * 8);
                bool traced = Protocol.BeginRun(writer, Trace);
                int count = 0;
                while (count < size)
                {
                    int itemStart = writer.Position;
                    bool more;
                    T value;
                    try
                    {
                        more = items is not null ? items.MoveNext() : await asyncItems!.MoveNextAsync().ConfigureAwait(false);
                        value = more ? (items is not null ? items.Current : asyncItems!.Current) : default!;
                    }
                    catch (Exception e) when (!(e is OperationCanceledException && _stop.IsCancellationRequested))
                    {
                        inputError = e;
                        break;
                    }
                    if (!more)
                    {
                        exhausted = true;
                        break;
                    }
                    inputError = WriteItem(writer, value, firstItem + count);
                    if (inputError is not null)
                    {
                        // Only the items before the one that failed go: the chunk ends where it began.
                        writer.Truncate(itemStart);
                        break;
                    }
                    count++;
                    _stop.Token.ThrowIfCancellationRequested();
                }
                if (inputError is not null)
                {
                    // The items read before the failure are still mapped: the caller gets their
                    // results first, then this error (see Finish).
                    exhausted = true;
                }
                if (count == 0)
                {
                    break;
                }
                Protocol.EndRun(writer, count, traced);
                var item = new WorkItem(_method, writer.Buffer, writer.Position, count, firstItem, this);
                lock (_lock)
                {
                    if (_stop.IsCancellationRequested)
                    {
                        break;
                    }
                    _outstanding.Add(item);
                    _chunksInFlight++;
                    _itemsInFlight += count;
                    _lastChunk = count;
                }
                firstItem += count;
                _front.Scheduler.Enqueue(item, flush: !burst);
                if (burst && ++unsent >= BurstLength)
                {
                    _front.Scheduler.FlushAll();
                    unsent = 0;
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            inputError ??= e;
        }
        finally
        {
            if (unsent > 0)
            {
                _front.Scheduler.FlushAll();
            }
            try
            {
                items?.Dispose();
                if (asyncItems is not null)
                {
                    await asyncItems.DisposeAsync().ConfigureAwait(false);
                }
            }
            catch (Exception e)
            {
                inputError ??= e;
            }
            lock (_lock)
            {
                _inputError = inputError;
                _producerDone = true;
                if (_outstanding.Count == 0)
                {
                    Finish();
                }
            }
        }
    }

    /// <summary>Serialises one item into the chunk; the error that refuses it, or null.</summary>
    private Exception? WriteItem(PayloadWriter writer, T value, long index)
    {
        try
        {
            TaskArguments.Write(_arguments, writer, value, $"Item {index}");
        }
        catch (SerializationException e)
        {
            return e;
        }
        return TaskArguments.CheckSize(writer.Position, _maxMessage, $"Item {index}");
    }

    private int NextChunkSize()
    {
        if (_fixedChunk is int chunk)
        {
            return chunk;
        }
        double itemTicks = _method.ItemTicks;
        int last = Math.Max(1, _lastChunk);
        if (itemTicks <= 0)
        {
            return last;
        }
        double ideal = TargetChunkSeconds * System.Diagnostics.Stopwatch.Frequency / itemTicks;
        return (int)Math.Clamp(Math.Min(ideal, last * 2.0), 1, MaxAdaptiveChunk);
    }

    /// <param name="size">Items in the next chunk.</param>
    /// <param name="flushFirst">Chunks were queued without being sent: send them before waiting, since their results are what frees the room.</param>
    /// <returns>Whether it flushed.</returns>
    private async Task<bool> WaitForCapacityAsync(int size, bool flushFirst)
    {
        bool flushed = false;
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                int maxChunks = Math.Max(4 * _workers, (256 * _workers + size - 1) / size);
                bool room = _chunksInFlight < maxChunks && (_itemsInFlight == 0 || _options.LookAhead is not int bound || _itemsInFlight + size <= bound);
                if (room || _stop.IsCancellationRequested)
                {
                    _stop.Token.ThrowIfCancellationRequested();
                    return flushed;
                }
                // Resume when half the window is free, not at the first free place: one wake-up of
                // this producer per half window instead of one per finished chunk.
                _resumeChunks = maxChunks / 2;
                _resumeItems = _options.LookAhead is int limit ? Math.Max(0, Math.Min(limit - size, limit / 2)) : long.MaxValue;
                _capacity = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _capacity.Task;
            }
            if (flushFirst && !flushed)
            {
                _front.Scheduler.FlushAll();
                flushed = true;
            }
            await wait.ConfigureAwait(false);
        }
    }

    private void Release(int count)
    {
        lock (_lock)
        {
            _chunksInFlight--;
            _itemsInFlight -= count;
            if (_capacity is not null && ((_chunksInFlight <= _resumeChunks && _itemsInFlight <= _resumeItems) || _itemsInFlight == 0))
            {
                _capacity.TrySetResult();
                _capacity = null;
            }
        }
    }

    /// <summary>Hands an outcome to the consumer: the outcomes channel, or the sink array. Under the lock.</summary>
    private void Deliver(Outcome outcome)
    {
        if (_sink is null)
        {
            _outcomes.Writer.TryWrite(outcome);
        }
        else if (outcome.Error is not null)
        {
            _sunk!.TrySetException(outcome.Error);
        }
        else
        {
            outcome.Values!.CopyTo(_sink, outcome.FirstItem);
            Release(outcome.Values!.Length);
        }
    }

    /// <summary>Every chunk is in and the input is exhausted, or failed (<see cref="_inputError"/>). Under the lock.</summary>
    private void Finish()
    {
        if (_sink is null)
        {
            _outcomes.Writer.TryComplete();
        }
        else if (_inputError is not null)
        {
            _sunk!.TrySetException(_inputError);
        }
        else
        {
            _sunk!.TrySetResult();
        }
    }

    public void OnPartialResult(WorkItem item, ref PayloadReader results, int count)
    {
        var values = (TResult[])(item.PartialResults ??= new TResult[item.Count]);
        for (int i = item.PartialCount; i < item.PartialCount + count; i++)
        {
            values[i] = _results.Read(ref results);
        }
    }

    public void OnResult(WorkItem item, ref PayloadReader results, long elapsedTicks)
    {
        var values = (TResult[]?)item.PartialResults ?? new TResult[item.Count];
        item.PartialResults = null;
        for (int i = item.PartialCount; i < values.Length; i++)
        {
            values[i] = _results.Read(ref results);
        }
        Complete(item, new Outcome(item.FirstItem, values, null), item.Count);
    }

    public void OnError(WorkItem item, Exception error) => Complete(item, new Outcome(item.FirstItem, null, error), 0);

    private void Complete(WorkItem item, Outcome outcome, int completed)
    {
        long done;
        lock (_lock)
        {
            if (!_outstanding.Remove(item))
            {
                return;
            }
            _completed += completed;
            done = _completed;
            // Written under the lock, where the producer also decides to close the channel: a result
            // written after that decision would be dropped without a trace.
            Deliver(outcome);
            if (_producerDone && _outstanding.Count == 0)
            {
                Finish();
            }
        }
        if (completed > 0)
        {
            _options.Progress?.Report(new MapProgress(done, _total));
        }
    }
}

/// <summary>The caller's side of one <c>SubmitAsync</c>.</summary>
internal sealed class SubmitOwner<TResult>(Codec<TResult> results, TaskFrontEnd front) : TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously), IWorkItemOwner
{
    public CancellationTokenRegistration Registration;
    private int _ended;

    /// <summary>The submit span, ended with the task; null when nothing records the pool's spans.</summary>
    public System.Diagnostics.Activity? Span { get; init; }

    /// <summary>Never called: one result is never split (the pool refuses a PartialResult frame for a one-item unit).</summary>
    public void OnPartialResult(WorkItem item, ref PayloadReader results, int count) =>
        throw new InvalidDataException("a partial result for a single task");

    public void OnResult(WorkItem item, ref PayloadReader reader, long elapsedTicks)
    {
        Registration.Unregister();
        try
        {
            TrySetResult(results.Read(ref reader));
        }
        finally
        {
            Ended();
        }
    }

    public void OnError(WorkItem item, Exception error)
    {
        Registration.Unregister();
        TrySetException(error);
        Ended(error);
    }

    /// <summary>Tells the pool, once, that this submit is over (see <see cref="ProcessPool.CloseAsync"/>).</summary>
    public void Ended(Exception? error = null)
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            if (Span is not null)
            {
                PoolTracing.Stop(Span, error);
            }
            front.EndOperation();
        }
    }
}
