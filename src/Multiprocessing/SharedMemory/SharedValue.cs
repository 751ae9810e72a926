using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Sharing;

namespace Multiprocessing;

/// <summary>
/// One value of <typeparamref name="T"/> in shared memory. <see cref="Value"/> is a reference into
/// the shared page, so <see cref="Interlocked"/> and <see cref="Volatile"/> operations on it are
/// atomic across processes: <c>Interlocked.Add(ref counter.Value, 5)</c>.
/// </summary>
/// <typeparam name="T">An unmanaged type. For atomic operations use a type <see cref="Interlocked"/> takes (int, long, …); the value is aligned for them.</typeparam>
public sealed unsafe class SharedValue<T> : SharedObject, ISharedObjectFactory<SharedValue<T>> where T : unmanaged
{
    private readonly T* _value;

    private SharedValue(SharedSegment segment, bool ownsSegment, bool readOnly)
        : base(HoldsOneValue(segment, ownsSegment), ownsSegment, readOnly) => _value = (T*)segment.Pointer;

    private static string Contents => $"SharedValue<{typeof(T).FullName}>:{sizeof(T)}";

    /// <summary>Creates a shared value set to <paramref name="initial"/>.</summary>
    /// <param name="initial">The starting value.</param>
    /// <param name="name">A name by which other programs of this user can <see cref="Open"/> it while this object lives; null for none.</param>
    public static SharedValue<T> Create(T initial = default, string? name = null)
    {
        var value = new SharedValue<T>(SharedSegment.CreateMemory(sizeof(T), $"mp:SharedValue<{typeof(T).Name}>", name, Contents), ownsSegment: true, readOnly: false);
        *value._value = initial;
        return value;
    }

    /// <summary>Opens the value another process created with <paramref name="name"/>.</summary>
    /// <exception cref="SharedMemoryException">No live process holds that name, or it holds something other than a <c>SharedValue</c> of <typeparamref name="T"/>.</exception>
    public static SharedValue<T> Open(string name)
    {
        SharedSegment segment = SharedSegment.OpenNamed(name, writable: true, out string contents);
        if (contents != Contents)
        {
            segment.Dispose();
            throw new SharedMemoryException($"The shared segment named '{name}' holds {contents.Split(':')[0]}, not SharedValue<{TypeNames.Display(typeof(T))}>.");
        }
        return new SharedValue<T>(segment, ownsSegment: true, readOnly: false);
    }

    static SharedValue<T> ISharedObjectFactory<SharedValue<T>>.Attach(SharedSegment segment, bool readOnly, ref PayloadReader reader) =>
        new(segment, ownsSegment: false, readOnly);

    /// <summary>The value, by reference: reads and writes go straight to shared memory.</summary>
    /// <remarks>Plain reads and writes are not atomic for types wider than the machine word; use <see cref="Interlocked"/> or a lock.</remarks>
    public ref T Value
    {
        get
        {
            ThrowIfDisposed();
            ThrowIfReadOnly();
            return ref *_value;
        }
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        // Read, then check (as SharedArray's indexer does): a value read from the zero pages a
        // racing Dispose swapped in is not shown.
        T value = *_value;
        Volatile.ReadBarrier();
        return IsDisposed ? $"SharedValue<{TypeNames.Display(typeof(T))}> (disposed)" : $"SharedValue<{TypeNames.Display(typeof(T))}>({value})";
    }

    private static SharedSegment HoldsOneValue(SharedSegment segment, bool ownsSegment)
    {
        if (segment.Size == sizeof(T))
        {
            return segment;
        }
        long size = segment.Size;
        if (ownsSegment)
        {
            segment.Dispose();
        }
        throw new SharedMemoryException($"The memory holds {Units.Bytes(size)}, not one {TypeNames.Display(typeof(T))} ({sizeof(T)} bytes).");
    }
}
