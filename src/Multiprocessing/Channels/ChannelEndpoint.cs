using System.Diagnostics;
using System.Threading.Channels;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Synchronization;

namespace Multiprocessing.Channels;

/// <summary>
/// Typed reading and writing on one <see cref="ChannelRing"/>: serialisation into the slot, the
/// full-mode policy, waits (a spin of a learned length, then the process's futex waiter, never a
/// thread per waiter), and completion. Shared by <see cref="SharedChannel{T}"/> and <see cref="PipeEnd{T}"/>.
/// </summary>
internal sealed class ChannelEndpoint<T> : IRetiringWriter
{
    [ThreadStatic]
    private static PayloadWriter? t_writer;

    private readonly SyncMemory _memory;
    private readonly Codec<T> _codec;
    private readonly BoundedChannelFullMode _fullMode;
    private readonly string _owner;
    private Task? _completion;
    private bool _detached;
    private AdaptiveSpin _readSpin;
    private AdaptiveSpin _writeSpin;
    private AdaptivePark _readPark;
    private AdaptivePark _writePark;

    public ChannelEndpoint(SyncMemory memory, ChannelRing ring, BoundedChannelFullMode fullMode, string owner, CodecProvider codecs)
    {
        _memory = memory;
        Ring = ring;
        _fullMode = fullMode;
        _owner = owner;
        _codec = codecs.Get<T>();
    }

    public ChannelRing Ring { get; }

    public bool TryWrite(T item)
    {
        PayloadWriter message = Serialize(item);
        return TryWriteBytes(message.WrittenSpan);
    }

    public ValueTask WriteAsync(T item, CancellationToken cancellationToken)
    {
        // Room now (the usual case): straight from the thread's buffer, with no copy of the message
        // and no state machine. Otherwise the bytes are kept for the wait, serialised only once.
        // Failures surface through the returned task, as they did when this was one async method.
        try
        {
            PayloadWriter message = Serialize(item);
            return TryWriteBytes(message.WrittenSpan) ? default : WriteWhenRoomAsync(message.WrittenSpan.ToArray(), cancellationToken);
        }
        catch (Exception e)
        {
            return ValueTask.FromException(e);
        }
    }

    /// <summary>The rest of <see cref="WriteAsync"/> once a first attempt found no room (or the channel completed).</summary>
    private async ValueTask WriteWhenRoomAsync(byte[] message, CancellationToken cancellationToken)
    {
        do
        {
            if (!await WaitToWriteAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new ChannelClosedException($"The {_owner} is completed: no more messages can be written.");
            }
        }
        while (!TryWriteBytes(message));
    }

    private bool TryWriteBytes(ReadOnlySpan<byte> message)
    {
        Enter();
        try
        {
            while (true)
            {
                if (Ring.TryWrite(message, out bool completed))
                {
                    return true;
                }
                if (completed)
                {
                    return false;
                }
                switch (_fullMode)
                {
                    case BoundedChannelFullMode.DropWrite:
                        return true;
                    case BoundedChannelFullMode.DropOldest:
                        Ring.TryRead(0, static (_, _) => 0, out _);
                        continue;
                    default:
                        return false;
                }
            }
        }
        finally
        {
            _memory.Exit();
        }
    }

    public bool TryRead(out T item)
    {
        Enter();
        try
        {
            return Ring.TryRead(_codec, static (codec, bytes) =>
            {
                var reader = new PayloadReader(bytes);
                return codec.Read(ref reader);
            }, out item);
        }
        finally
        {
            _memory.Exit();
        }
    }

    public async ValueTask<T> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryRead(out T item))
            {
                return item;
            }
            if (!await WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new ChannelClosedException($"The {_owner} is completed and empty.");
            }
        }
    }

    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken) => WaitToReadAsync(woken: false, cancellationToken);

    public ValueTask<bool> WaitToWriteAsync(CancellationToken cancellationToken) => WaitToWriteAsync(woken: false, cancellationToken);

    /// <summary>
    /// Spins for this endpoint's reading budget (see <see cref="AdaptiveSpin"/>), then parks. After a
    /// park (<paramref name="woken"/>) it looks once and parks again if another reader took the
    /// message: the wake says the other side is not keeping pace, so a spin would rarely pay.
    /// </summary>
    private ValueTask<bool> WaitToReadAsync(bool woken, CancellationToken cancellationToken)
    {
        Enter();
        try
        {
            long started = 0;
            for (int i = 0; ; i++)
            {
                if (Ring.HasMessage())
                {
                    if (started != 0)
                    {
                        _readSpin.Succeeded();
                    }
                    return new ValueTask<bool>(true);
                }
                if (Ring.IsDrained)
                {
                    return Ring.Error is { } error
                        ? ValueTask.FromException<bool>(new ChannelClosedException($"The {_owner} was completed with an error: {error}"))
                        : new ValueTask<bool>(false);
                }
                if (woken || !KeepSpinning(ref _readSpin, ref started, i))
                {
                    if (!woken && !cancellationToken.IsCancellationRequested && ParkBriefly(ref _readPark, new ReadableWait(_memory, Ring)))
                    {
                        woken = true;
                        started = 0; // a park, not a spin: says nothing about the spin's budget
                        continue;
                    }
                    break;
                }
            }
        }
        finally
        {
            _memory.Exit();
        }
        return WaitAsync(new ReadableWait(_memory, Ring), readable: true, cancellationToken);
    }

    /// <summary>The writing side of <see cref="WaitToReadAsync(bool, CancellationToken)"/>.</summary>
    private ValueTask<bool> WaitToWriteAsync(bool woken, CancellationToken cancellationToken)
    {
        Enter();
        try
        {
            long started = 0;
            for (int i = 0; ; i++)
            {
                if (Ring.IsCompleted)
                {
                    return Ring.Error is { } error
                        ? ValueTask.FromException<bool>(new ChannelClosedException($"The {_owner} was completed with an error: {error}"))
                        : new ValueTask<bool>(false);
                }
                if (Ring.HasRoom() || _fullMode != BoundedChannelFullMode.Wait)
                {
                    if (started != 0)
                    {
                        _writeSpin.Succeeded();
                    }
                    return new ValueTask<bool>(true);
                }
                if (woken || !KeepSpinning(ref _writeSpin, ref started, i))
                {
                    if (!woken && !cancellationToken.IsCancellationRequested && ParkBriefly(ref _writePark, new WritableWait(_memory, Ring)))
                    {
                        woken = true;
                        started = 0; // a park, not a spin: says nothing about the spin's budget
                        continue;
                    }
                    break;
                }
            }
        }
        finally
        {
            _memory.Exit();
        }
        return WaitAsync(new WritableWait(_memory, Ring), readable: false, cancellationToken);
    }

    /// <summary>Spins once more and returns true, or returns false when the budget is spent.</summary>
    private static bool KeepSpinning(ref AdaptiveSpin spin, ref long started, int iteration)
    {
        // The clock is read only once a wait spins: most waits end at the first look.
        if (iteration == 0)
        {
            started = Stopwatch.GetTimestamp();
        }
        else if (Stopwatch.GetTimestamp() - started >= spin.BudgetTicks)
        {
            spin.RanOut();
            return false;
        }
        Thread.SpinWait(20);
        return true;
    }

    /// <summary>
    /// Sleeps on the calling thread for this endpoint's parking budget (see <see cref="AdaptivePark"/>);
    /// true if woken with something to look at, false if the budget is spent or parking is off. The
    /// token is not watched meanwhile (the caller checked it just before): a cancellation waits at
    /// most one budget, about a millisecond, to be seen by the asynchronous wait that follows.
    /// </summary>
    private static bool ParkBriefly(ref AdaptivePark park, FutexWait wait)
    {
        if (park.BudgetTicks == 0)
        {
            return false;
        }
        bool woken;
        try
        {
            woken = wait.Run(park.Budget, CancellationToken.None);
        }
        catch (ObjectDisposedException)
        {
            return false; // the asynchronous wait that follows reports the closing, as before
        }
        if (woken)
        {
            park.Woken();
        }
        else
        {
            park.RanOut();
        }
        return woken;
    }

    private async ValueTask<bool> WaitAsync(FutexWait wait, bool readable, CancellationToken cancellationToken)
    {
        // Woken: there is something to look at. The callers loop, so a message another reader took
        // first (or room another writer filled) just means waiting again.
        long started = Stopwatch.GetTimestamp();
        await FutexWaiter.WaitAsync(wait, Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
        long elapsed = Stopwatch.GetTimestamp() - started;
        if (readable)
        {
            _readPark.WaitedAsynchronously(elapsed);
        }
        else
        {
            _writePark.WaitedAsynchronously(elapsed);
        }
        return readable
            ? await WaitToReadAsync(woken: true, cancellationToken).ConfigureAwait(false)
            : await WaitToWriteAsync(woken: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Whether the channel is still open (not disposed here nor closed by its creator).</summary>
    public bool IsOpen
    {
        get
        {
            if (!_memory.TryEnter())
            {
                return false;
            }
            _memory.Exit();
            return true;
        }
    }

    /// <summary>See <see cref="ChannelRing.RetireWriter"/>; nothing to do once the memory is closed here.</summary>
    public void RetireWriter()
    {
        if (_memory.TryEnter())
        {
            try
            {
                Ring.RetireWriter();
            }
            finally
            {
                _memory.Exit();
            }
        }
    }

    public bool TryComplete(Exception? error)
    {
        Enter();
        try
        {
            return Ring.TryComplete(error is null ? null : ChannelRing.Describe(error));
        }
        finally
        {
            _memory.Exit();
        }
    }

    /// <summary>Completes when the ring is completed and every message has been read.</summary>
    public Task Completion => Volatile.Read(ref _detached) ? Task.FromException(_memory.Disposed()) : _completion ??= ObserveCompletionAsync();

    private async Task ObserveCompletionAsync()
    {
        await FutexWaiter.WaitAsync(new DrainedWait(_memory, Ring), Timeout.InfiniteTimeSpan, CancellationToken.None).ConfigureAwait(false);
        string? error;
        Enter();
        try
        {
            error = Ring.Error;
        }
        finally
        {
            _memory.Exit();
        }
        if (error is not null)
        {
            throw new ChannelClosedException($"The {_owner} was completed with an error: {error}");
        }
    }

    /// <summary>Registers this process as a writer of the ring (see <see cref="ChannelRing.RegisterWriter"/>); throws if the channel is closed.</summary>
    public void RegisterWriter()
    {
        Enter();
        try
        {
            Ring.RegisterWriter();
        }
        finally
        {
            _memory.Exit();
        }
    }

    /// <summary>See <see cref="ChannelRing.BrokenMessages"/>; throws if the channel is closed.</summary>
    public long BrokenMessages
    {
        get
        {
            Enter();
            try
            {
                return Ring.BrokenMessages;
            }
            finally
            {
                _memory.Exit();
            }
        }
    }

    public int Count
    {
        get
        {
            Enter();
            try
            {
                return Ring.Count;
            }
            finally
            {
                _memory.Exit();
            }
        }
    }

    /// <summary>
    /// Makes every later use of this endpoint throw <see cref="ObjectDisposedException"/>, for an
    /// object disposed while its memory stays open (one end of a pipe whose other end lives on).
    /// </summary>
    public void Detach() => Volatile.Write(ref _detached, true);

    /// <summary>The ring's completion error, or null if it has none or the memory is closed here.</summary>
    public string? TryGetError()
    {
        if (Volatile.Read(ref _detached) || !_memory.TryEnter())
        {
            return null;
        }
        try
        {
            return Ring.Error;
        }
        finally
        {
            _memory.Exit();
        }
    }

    private void Enter()
    {
        if (Volatile.Read(ref _detached))
        {
            throw _memory.Disposed();
        }
        _memory.Enter();
    }

    private PayloadWriter Serialize(T item)
    {
        PayloadWriter writer = t_writer ??= new PayloadWriter(256);
        writer.Reset();
        _codec.Write(writer, item);
        if (writer.Position > Ring.MaxMessage)
        {
            int size = writer.Position;
            writer.Reset();
            writer.ShrinkIfLarger(1 << 20);
            throw new ArgumentException(
                $"The message is {size:N0} bytes serialised, more than the {_owner}'s maximum of {Ring.MaxMessage:N0} bytes. " +
                "Create the channel with a larger SharedChannelOptions.MaxMessageSize, or send large data as a SharedArray (a descriptor crosses, not the data).",
                nameof(item));
        }
        return writer;
    }
}
