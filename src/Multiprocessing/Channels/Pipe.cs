using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Multiprocessing.Channels;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Sharing;
using Multiprocessing.Synchronization;

namespace Multiprocessing;

/// <summary>Creates two connected ends of a duplex pipe of typed messages (Python's <c>multiprocessing.Pipe()</c>).</summary>
public static class Pipe
{
    /// <summary>
    /// Creates a pipe: what one end sends, the other receives, in both directions. Keep one end
    /// and pass the other to a pool task or a worker process as an argument.
    /// </summary>
    /// <param name="options">Capacity, largest message and serializer (<see cref="SharedChannelOptions.Serializer"/>, <see cref="SharedChannelOptions.JsonContext"/>) of each direction; null for 64 messages of up to 64 KiB with the built-in serializers.</param>
    /// <exception cref="ArgumentException">The full mode is not Wait, or the serializer or JSON context has no public parameterless constructor (nor, for a context, a static Default).</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> cannot cross a process boundary.</exception>
    public static (PipeEnd<T> Left, PipeEnd<T> Right) Create<T>(SharedChannelOptions? options = null)
    {
        options ??= new SharedChannelOptions(64);
        options.Validate();
        if (options.FullMode != BoundedChannelFullMode.Wait)
        {
            throw new ArgumentException("A pipe waits when full; it takes no other full mode.", nameof(options));
        }
        CodecProvider codecs = options.Codecs();
        _ = codecs.Get<T>();
        return PipeEnd<T>.CreatePair(options, codecs);
    }

    /// <summary>Creates a pipe whose messages <paramref name="serializer"/> writes (for the types it accepts).</summary>
    /// <param name="serializer">See <see cref="SharedChannelOptions.Serializer"/>: the other end's process creates its own instance.</param>
    /// <param name="capacity">The most messages each direction holds.</param>
    /// <exception cref="ArgumentException">The serializer has no public parameterless constructor.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> cannot cross a process boundary.</exception>
    public static (PipeEnd<T> Left, PipeEnd<T> Right) Create<T>(IWorkerSerializer serializer, int capacity = 64)
    {
        ArgumentNullException.ThrowIfNull(serializer);
        return Create<T>(new SharedChannelOptions(capacity) { Serializer = serializer });
    }
}

/// <summary>
/// One end of a <see cref="Pipe"/>: sends to the other end and receives from it. Receiving ends with
/// <see cref="EndOfStreamException"/> once the other end has called <see cref="Complete"/> and
/// everything it sent has been received, or once the other end's process has died.
/// </summary>
/// <typeparam name="T">The message type.</typeparam>
/// <remarks>
/// The process that created the pipe holds both ends; the memory is released (and the pipe closed
/// in every process) when it has disposed both. An end that arrived in another process counts that
/// process as its sender, so that the end left behind notices if it dies.
/// </remarks>
public sealed class PipeEnd<T> : SharedObject, ISharedObjectFactory<PipeEnd<T>>
{
    private const int RingsOffset = 56;

    private readonly SyncMemory _memory;
    private readonly ChannelEndpoint<T> _outgoing;
    private readonly ChannelEndpoint<T> _incoming;
    private readonly PairOwnership? _pair;
    private readonly CodecProvider _codecs;
    private int _released;

    private unsafe PipeEnd(SyncMemory memory, int end, PairOwnership? pair, CodecProvider codecs)
        : base(memory.Segment, ownsSegment: false, readOnly: false)
    {
        _memory = memory;
        _codecs = codecs;
        _pair = pair;
        End = end;
        var rings = new[] { new ChannelRing(memory.At<byte>(RingOffset(memory, 0))), new ChannelRing(memory.At<byte>(RingOffset(memory, 1))) };
        _outgoing = new ChannelEndpoint<T>(memory, rings[end], BoundedChannelFullMode.Wait, "pipe", codecs);
        _incoming = new ChannelEndpoint<T>(memory, rings[1 - end], BoundedChannelFullMode.Wait, "pipe", codecs);
        Reader = new SharedChannelReader<T>(_incoming);
        Writer = new SharedChannelWriter<T>(_outgoing);
    }

    /// <summary>Which end this is: 0 (left) or 1 (right).</summary>
    public int End { get; }

    /// <summary>What the other end sends, as a <see cref="ChannelReader{T}"/>.</summary>
    /// <remarks>Stays readable after Dispose; its members then throw <see cref="ObjectDisposedException"/>, as every sending and receiving member of this end does.</remarks>
    public ChannelReader<T> Reader { get; }

    /// <summary>Sends to the other end, as a <see cref="ChannelWriter{T}"/>.</summary>
    /// <remarks>Stays readable after Dispose; its members then throw <see cref="ObjectDisposedException"/>.</remarks>
    public ChannelWriter<T> Writer { get; }

    private static string Contents => $"Pipe<{typeof(T).FullName}>";

    internal static unsafe (PipeEnd<T>, PipeEnd<T>) CreatePair(SharedChannelOptions options, CodecProvider codecs)
    {
        long ring = ChannelRing.SizeOf(options.Capacity, options.MaxMessageSize);
        long size = RingsOffset + 2 * ring;
        if (size > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "The pipe's two directions would need more than 2 GiB; lower the capacity or the maximum message size.");
        }
        int[] futexes = [.. ChannelRing.FutexOffsets(RingsOffset), .. ChannelRing.FutexOffsets(RingsOffset + (int)ring)];
        SyncMemory memory = SyncMemory.Create((int)size, $"Pipe<{typeof(T).Name}>", null, Contents, futexes);
        ChannelRing.Initialize(memory.At<byte>(RingsOffset), options.Capacity, options.MaxMessageSize);
        ChannelRing.Initialize(memory.At<byte>(RingsOffset + (int)ring), options.Capacity, options.MaxMessageSize);
        var pair = new PairOwnership(memory);
        return (new PipeEnd<T>(memory, 0, pair, codecs), new PipeEnd<T>(memory, 1, pair, codecs));
    }

    private static unsafe int RingOffset(SyncMemory memory, int end)
    {
        if (end == 0)
        {
            return RingsOffset;
        }
        // The second ring follows the first, whose size its own header gives.
        var first = new ChannelRing(memory.At<byte>(RingsOffset));
        return RingsOffset + (int)ChannelRing.SizeOf(first.Capacity, first.MaxMessage);
    }

    static PipeEnd<T> ISharedObjectFactory<PipeEnd<T>>.Attach(SharedSegment segment, bool readOnly, ref PayloadReader reader)
    {
        int end = reader.Read<int>();
        if (end is not (0 or 1))
        {
            throw new InvalidDataException("A pipe end's descriptor names neither end.");
        }
        CodecProvider codecs = SharedChannel<T>.AttachedCodecs(reader.ReadString(), reader.ReadString(), reader.Read<bool>());
        // The futex offsets only serve the creator's close; an attached end never closes the pipe for others.
        SyncMemory memory = SyncMemory.Attach(segment, readOnly, (int)segment.Size - SyncMemory.StateOffset, $"Pipe<{typeof(T).Name}>", []);
        var attached = new PipeEnd<T>(memory, end, pair: null, codecs);
        attached._outgoing.Ring.RegisterWriter();
        return attached;
    }

    private protected override void WriteState(PayloadWriter writer)
    {
        writer.Write(End);
        writer.WriteString(SerializerTypes.NameOf(_codecs.UserSerializer));
        writer.WriteString(SerializerTypes.NameOf(_codecs.JsonResolver));
        writer.Write(SharedChannel<T>.SerializerTakesItems(_codecs));
    }

    /// <summary>Sends <paramref name="item"/> if there is room now.</summary>
    public bool TrySend(T item) => _outgoing.TryWrite(item);

    /// <summary>Sends <paramref name="item"/>, waiting for room.</summary>
    /// <exception cref="ChannelClosedException">This end was completed.</exception>
    public ValueTask SendAsync(T item, CancellationToken cancellationToken = default)
    {
        _outgoing.RegisterWriter();
        return _outgoing.WriteAsync(item, cancellationToken);
    }

    /// <summary>Sends <paramref name="item"/>, blocking the calling thread while the pipe is full.</summary>
    public void Send(T item, CancellationToken cancellationToken = default)
    {
        if (!TrySend(item))
        {
            SendAsync(item, cancellationToken).AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>Receives a message if one is there now.</summary>
    public bool TryReceive(out T item) => _incoming.TryRead(out item);

    /// <summary>Receives the next message, waiting for one.</summary>
    /// <exception cref="EndOfStreamException">The other end completed (and everything it sent was received), or its process died.</exception>
    public async ValueTask<T> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await _incoming.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException e)
        {
            throw new EndOfStreamException(
                _incoming.TryGetError() is { } error ? $"The other end of the pipe is gone: {error}" : "The other end of the pipe has completed: nothing more will arrive.", e);
        }
    }

    /// <summary>Receives the next message, blocking the calling thread until one arrives.</summary>
    /// <exception cref="EndOfStreamException">The other end completed, or its process died.</exception>
    public T Receive(CancellationToken cancellationToken = default) =>
        TryReceive(out T item) ? item : ReceiveAsync(cancellationToken).AsTask().GetAwaiter().GetResult();

    /// <summary>Every message until the other end completes.</summary>
    public async IAsyncEnumerable<T> ReceiveAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (T item in Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return item;
        }
    }

    /// <summary>Tells the other end that nothing more will be sent (its receives end after the last message).</summary>
    public void Complete(Exception? error = null) => _outgoing.TryComplete(error);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return;
        }
        // The pair's memory stays open while the other end lives: this end must refuse use by itself.
        _outgoing.Detach();
        _incoming.Detach();
        if (_pair is not null)
        {
            _pair.Release();
        }
        else
        {
            _memory.Close();
        }
        base.Dispose(disposing);
    }

    /// <summary>The creating process holds both ends: the pipe closes when both are disposed.</summary>
    private sealed class PairOwnership(SyncMemory memory)
    {
        private int _ends = 2;

        public void Release()
        {
            if (Interlocked.Decrement(ref _ends) == 0)
            {
                memory.Close();
            }
        }
    }
}
