using System.Threading.Channels;
using Multiprocessing.Channels;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Sharing;
using Multiprocessing.Synchronization;

namespace Multiprocessing;

/// <summary>Creates channels that connect processes: <see cref="SharedChannel{T}"/>.</summary>
public static class SharedChannel
{
    /// <summary>
    /// Creates a bounded channel of <typeparamref name="T"/> in shared memory. Pass it to pool tasks
    /// or worker processes as an argument: they receive the same channel, and read and write it
    /// with the <see cref="System.Threading.Channels"/> API.
    /// </summary>
    /// <param name="options">Capacity, full mode and the largest message.</param>
    /// <param name="name">A name by which other programs of this user can open it (<see cref="Open{T}"/>) while this object lives; null for none.</param>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> cannot cross a process boundary, or the full mode is DropNewest.</exception>
    public static SharedChannel<T> CreateBounded<T>(SharedChannelOptions options, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        CodecProvider codecs = options.Codecs();
        _ = codecs.Get<T>(); // refuse an unsendable type now, not at the first write
        return SharedChannel<T>.Create(options, codecs, name);
    }

    /// <summary>Opens the channel another process created with <paramref name="name"/>.</summary>
    /// <exception cref="SharedMemoryException">No live process holds that name, or it holds something else.</exception>
    /// <exception cref="System.Runtime.Serialization.SerializationException">The channel was created with a <see cref="SharedChannelOptions.Serializer"/> or <see cref="SharedChannelOptions.JsonContext"/> that this process cannot create.</exception>
    public static SharedChannel<T> Open<T>(string name) => SharedChannel<T>.OpenNamed(name);
}

/// <summary>
/// A bounded channel between processes, shaped like <see cref="Channel{T}"/>: <see cref="Reader"/>
/// and <see cref="Writer"/> are a <see cref="ChannelReader{T}"/> and a <see cref="ChannelWriter{T}"/>,
/// so <c>ReadAllAsync</c>, <c>WriteAsync</c>, <c>Complete</c> and <c>Completion</c> behave as they
/// do in one process. Many writers and readers in many processes may use it at once; each message
/// is delivered once, and each writer's messages arrive in the order it wrote them.
/// </summary>
/// <typeparam name="T">The message type: anything a pool task could take as an argument.</typeparam>
/// <remarks>
/// <para>Messages live in shared memory (see <see cref="SharedChannelOptions.MaxMessageSize"/>); a
/// write serialises into a slot and a read deserialises from it, with no system call unless a reader
/// or writer is asleep. Async waits do not hold a thread each: one thread per process sleeps on
/// every channel and lock word it waits for. Before a wait goes there, the calling thread spins
/// (up to 16 µs) and then sleeps in the kernel itself for a budget it learns per endpoint (up to
/// 1 ms): in a stream the other side answers within it, and a wake then costs one thread hop
/// instead of two. On a channel where waits outlast the budget the park turns itself off after a
/// few waits; a cancellation requested during a park is seen when the park ends.</para>
/// <para>When a process dies: a writer killed in the middle of a message leaves a broken slot that
/// readers skip (<see cref="BrokenMessages"/> counts them); a reader killed in the middle of a read
/// loses the message it was reading; and when every process that wrote to the channel has died
/// without completing it, readers of the empty channel see it completed with an error instead of
/// waiting for ever. A process counts as a writer from when it takes <see cref="Writer"/> until it
/// disposes the channel or ends normally (returns from <c>Main</c>, or a worker stopped by its pool):
/// writers that finish and exit one by one, leaving another process to complete the channel, are
/// not deaths. A writer killed or crashed is.</para>
/// <para>Disposing the channel in the process that created it closes it in every process:
/// pending waits end with <see cref="ObjectDisposedException"/>.</para>
/// </remarks>
public sealed class SharedChannel<T> : SharedObject, ISharedObjectFactory<SharedChannel<T>>
{
    private const int RingOffset = 56; // the ring starts on a cache line: the state begins 8 bytes in

    private readonly SyncMemory _memory;
    private readonly ChannelEndpoint<T> _endpoint;
    private readonly Lazy<SharedChannelWriter<T>> _writer;
    private readonly CodecProvider _codecs;

    private unsafe SharedChannel(SyncMemory memory, BoundedChannelFullMode fullMode, CodecProvider codecs)
        : base(memory.Segment, ownsSegment: false, readOnly: false)
    {
        _memory = memory;
        _codecs = codecs;
        _endpoint = new ChannelEndpoint<T>(memory, new ChannelRing(memory.At<byte>(RingOffset)), fullMode, "channel", codecs);
        Reader = new SharedChannelReader<T>(_endpoint);
        _writer = new(() =>
        {
            // Registering writes the ring: under a use, so a Dispose cannot release it meanwhile.
            _endpoint.RegisterWriter();
            WriterRetirement.Add(_endpoint.Ring.Address, _endpoint);
            return new SharedChannelWriter<T>(_endpoint);
        }, LazyThreadSafetyMode.PublicationOnly);
        FullMode = fullMode;
    }

    /// <summary>Reads messages.</summary>
    /// <remarks>Stays readable after Dispose: the reader's members then throw <see cref="ObjectDisposedException"/> (and <c>Completion</c> faults with it).</remarks>
    public ChannelReader<T> Reader { get; }

    /// <summary>Writes messages. Taking it registers this process as a writer (see the remarks).</summary>
    /// <exception cref="ObjectDisposedException">The channel was disposed here, or by the process that created it.</exception>
    public ChannelWriter<T> Writer
    {
        get
        {
            ThrowIfDisposed();
            return _writer.Value;
        }
    }

    /// <summary>The most messages the channel holds.</summary>
    /// <remarks>Read when the channel was mapped: stays readable after Dispose.</remarks>
    public int Capacity => _endpoint.Ring.Capacity;

    /// <summary>The largest serialised message, in bytes.</summary>
    /// <remarks>Read when the channel was mapped: stays readable after Dispose.</remarks>
    public int MaxMessageSize => _endpoint.Ring.MaxMessage;

    /// <summary>What a write does when the channel is full.</summary>
    public BoundedChannelFullMode FullMode { get; }

    /// <summary>Messages lost because their writer died while writing them.</summary>
    /// <exception cref="ObjectDisposedException">The channel was disposed here, or by the process that created it.</exception>
    public long BrokenMessages => _endpoint.BrokenMessages;

    private static string Contents => $"SharedChannel<{typeof(T).FullName}>";

    internal static unsafe SharedChannel<T> Create(SharedChannelOptions options, CodecProvider codecs, string? name)
    {
        long size = RingOffset + ChannelRing.SizeOf(options.Capacity, options.MaxMessageSize);
        if (size > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(options),
                $"{options.Capacity:N0} messages of up to {options.MaxMessageSize:N0} bytes need {size:N0} bytes of address space, more than a channel may have (2 GiB). Lower the capacity or the maximum message size.");
        }
        SyncMemory memory = SyncMemory.Create((int)size, $"SharedChannel<{typeof(T).Name}>", name, NamedContents(options.FullMode, codecs), ChannelRing.FutexOffsets(RingOffset));
        ChannelRing.Initialize(memory.At<byte>(RingOffset), options.Capacity, options.MaxMessageSize);
        return new SharedChannel<T>(memory, options.FullMode, codecs);
    }

    // What a named channel says it holds: the item type and full mode, then (only when the creator
    // brought them) the serializer's and the JSON context's type names, one a line.
    private static string NamedContents(BoundedChannelFullMode fullMode, CodecProvider codecs) =>
        codecs.UserSerializer is null && codecs.JsonResolver is null
            ? $"{Contents}:{(int)fullMode}"
            : $"{Contents}:{(int)fullMode}\n{SerializerTypes.NameOf(codecs.UserSerializer)}\n{SerializerTypes.NameOf(codecs.JsonResolver)}\n{(SerializerTakesItems(codecs) ? 1 : 0)}";

    internal static SharedChannel<T> OpenNamed(string name)
    {
        SharedSegment segment = SharedSegment.OpenNamed(name, writable: true, out string contents);
        string[] lines = contents.Split('\n');
        string[] parts = lines[0].Split(':');
        if (parts[0] != Contents || parts.Length != 2 || !int.TryParse(parts[1], out int fullMode) || lines.Length is not (1 or 4))
        {
            segment.Dispose();
            throw new SharedMemoryException($"The shared segment named '{name}' holds {parts[0]}, not a {TypeNames.Display(typeof(SharedChannel<T>))}.");
        }
        long size = segment.Size;
        segment.Dispose();
        // Before mapping: a process that cannot decode the items must not become one of the channel's users.
        CodecProvider codecs = lines.Length == 1 ? CodecProvider.Default : AttachedCodecs(NullIfEmpty(lines[1]), NullIfEmpty(lines[2]), lines[3] == "1");
        SyncMemory memory = SyncMemory.Open(name, (int)size - SyncMemory.StateOffset, $"SharedChannel<{typeof(T).Name}>", contents, ChannelRing.FutexOffsets(RingOffset));
        return new SharedChannel<T>(memory, (BoundedChannelFullMode)fullMode, codecs);
    }

    static SharedChannel<T> ISharedObjectFactory<SharedChannel<T>>.Attach(SharedSegment segment, bool readOnly, ref PayloadReader reader)
    {
        var fullMode = (BoundedChannelFullMode)reader.Read<int>();
        CodecProvider codecs = AttachedCodecs(reader.ReadString(), reader.ReadString(), reader.Read<bool>());
        SyncMemory memory = SyncMemory.Attach(segment, readOnly, (int)segment.Size - SyncMemory.StateOffset, $"SharedChannel<{typeof(T).Name}>", ChannelRing.FutexOffsets(RingOffset));
        return new SharedChannel<T>(memory, fullMode, codecs);
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    /// <summary>Whether the items are written by the user's serializer (rather than a built-in codec).</summary>
    internal static bool SerializerTakesItems(CodecProvider codecs) => codecs.UserSerializer is { } serializer && serializer.CanSerialize(typeof(T));

    /// <summary>The codecs named by the creator, checked against the item type here and now.</summary>
    /// <param name="serializerType">The creator's serializer type, or null.</param>
    /// <param name="jsonContextType">The creator's JSON context type, or null.</param>
    /// <param name="serializerTookItems">Whether the creator's serializer took <typeparamref name="T"/>: both sides must encode the same way.</param>
    /// <exception cref="System.Runtime.Serialization.SerializationException">This process cannot create them, or they do not take <typeparamref name="T"/> as the creator's did.</exception>
    internal static CodecProvider AttachedCodecs(string? serializerType, string? jsonContextType, bool serializerTookItems)
    {
        CodecProvider codecs = SerializerTypes.ProviderFor(serializerType, jsonContextType);
        if (SerializerTakesItems(codecs) != serializerTookItems)
        {
            // Another build of the serializer (or of T) on this side: one side would write bytes the other misreads.
            throw new System.Runtime.Serialization.SerializationException(
                $"The {TypeNames.Display(typeof(T))} items of the channel are written {(serializerTookItems ? "by" : "without")} the serializer {serializerType} where it was created, " +
                $"but in this process that serializer {(serializerTookItems ? "does not take" : "takes")} {TypeNames.Display(typeof(T))}. Both sides must load the same serializer and item type.");
        }
        try
        {
            _ = codecs.Get<T>();
        }
        catch (NotSupportedException e)
        {
            throw new System.Runtime.Serialization.SerializationException(
                $"The {TypeNames.Display(typeof(T))} items of the channel cannot be read in this process with the serializer it was created with ({serializerType ?? "built-in"}): {e.Message}", e);
        }
        return codecs;
    }

    private protected override void WriteState(PayloadWriter writer)
    {
        writer.Write((int)FullMode);
        writer.WriteString(SerializerTypes.NameOf(_codecs.UserSerializer));
        writer.WriteString(SerializerTypes.NameOf(_codecs.JsonResolver));
        writer.Write(SerializerTakesItems(_codecs));
    }

    /// <inheritdoc/>
    public override string ToString() => $"SharedChannel<{TypeNames.Display(typeof(T))}>[{Capacity:N0}]{(Name is null ? "" : $" '{Name}'")}";

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (_writer.IsValueCreated)
        {
            // Done writing, not dead: readers must not take this process's absence for a crash.
            WriterRetirement.Remove(_endpoint.Ring.Address, _endpoint);
            _endpoint.RetireWriter();
        }
        _memory.Close();
        base.Dispose(disposing);
    }
}

/// <summary>The reading side of a <see cref="SharedChannel{T}"/>.</summary>
internal sealed class SharedChannelReader<T>(ChannelEndpoint<T> endpoint) : ChannelReader<T>
{
    public override bool TryRead(out T item) => endpoint.TryRead(out item!);

    public override ValueTask<T> ReadAsync(CancellationToken cancellationToken = default) => endpoint.ReadAsync(cancellationToken);

    public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => endpoint.WaitToReadAsync(cancellationToken);

    public override Task Completion => endpoint.Completion;

    public override bool CanCount => true;

    public override int Count => endpoint.Count;

    // The base class's version is an async iterator that awaits WaitToReadAsync in a state machine
    // for every item; this one hands out each ready item synchronously (about half the consumer's
    // cost per small message) and awaits only when the channel is empty.
    public override IAsyncEnumerable<T> ReadAllAsync(CancellationToken cancellationToken = default) => new ReadAllEnumerable<T>(endpoint, cancellationToken);
}

/// <summary><see cref="SharedChannelReader{T}.ReadAllAsync"/>: each enumeration reads on until the channel is completed and drained.</summary>
internal sealed class ReadAllEnumerable<T>(ChannelEndpoint<T> endpoint, CancellationToken callToken) : IAsyncEnumerable<T>
{
    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (!cancellationToken.CanBeCanceled || cancellationToken == callToken)
        {
            return new Enumerator(endpoint, callToken, null);
        }
        if (!callToken.CanBeCanceled)
        {
            return new Enumerator(endpoint, cancellationToken, null);
        }
        // Both the call's token and WithCancellation's count, as with the base class's [EnumeratorCancellation].
        var linked = CancellationTokenSource.CreateLinkedTokenSource(callToken, cancellationToken);
        return new Enumerator(endpoint, linked.Token, linked);
    }

    private sealed class Enumerator(ChannelEndpoint<T> endpoint, CancellationToken cancellationToken, CancellationTokenSource? linked) : IAsyncEnumerator<T>
    {
        public T Current { get; private set; } = default!;

        public ValueTask<bool> MoveNextAsync()
        {
            if (endpoint.TryRead(out T item))
            {
                Current = item;
                return new ValueTask<bool>(true);
            }
            return WaitAndReadAsync();
        }

        private async ValueTask<bool> WaitAndReadAsync()
        {
            // Completion with an error surfaces here as ChannelClosedException, as from the base class.
            while (await endpoint.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (endpoint.TryRead(out T item))
                {
                    Current = item;
                    return true;
                }
            }
            return false;
        }

        public ValueTask DisposeAsync()
        {
            linked?.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>The writing side of a <see cref="SharedChannel{T}"/>.</summary>
internal sealed class SharedChannelWriter<T>(ChannelEndpoint<T> endpoint) : ChannelWriter<T>
{
    public override bool TryWrite(T item) => endpoint.TryWrite(item);

    public override ValueTask WriteAsync(T item, CancellationToken cancellationToken = default) => endpoint.WriteAsync(item, cancellationToken);

    public override ValueTask<bool> WaitToWriteAsync(CancellationToken cancellationToken = default) => endpoint.WaitToWriteAsync(cancellationToken);

    public override bool TryComplete(Exception? error = null) => endpoint.TryComplete(error);
}
