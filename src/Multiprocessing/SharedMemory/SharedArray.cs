using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Sharing;

namespace Multiprocessing;

/// <summary>
/// An array of <typeparamref name="T"/> in shared memory, outside every GC heap: filled once, then
/// read (or written) by any number of processes that map the same physical pages. Pass it to a
/// pool task as an argument and the task receives an array attached to the same memory; nothing is
/// copied, whatever its length.
/// </summary>
/// <typeparam name="T">An unmanaged element type (primitives, enums, structs of them).</typeparam>
/// <remarks>
/// <para>Lengths are <see langword="long"/>: arrays of more than 2^31 elements work, and spans are
/// taken over ranges of at most <see cref="int.MaxValue"/> elements.</para>
/// <para>Element access is not synchronised: writers in different processes need a
/// <c>SharedLock</c>, <see cref="Interlocked"/> on <see cref="GetReference"/>, or disjoint ranges.</para>
/// </remarks>
public sealed unsafe class SharedArray<T> : SharedObject, ISharedObjectFactory<SharedArray<T>> where T : unmanaged
{
    private readonly T* _items;

    private SharedArray(SharedSegment segment, bool ownsSegment, bool readOnly)
        : base(WholeElements(segment, ownsSegment), ownsSegment, readOnly)
    {
        _items = (T*)segment.Pointer;
        Length = segment.Size / sizeof(T);
    }

    private static SharedSegment WholeElements(SharedSegment segment, bool ownsSegment)
    {
        if (segment.Size % sizeof(T) == 0)
        {
            return segment;
        }
        long size = segment.Size;
        if (ownsSegment)
        {
            segment.Dispose();
        }
        throw new SharedMemoryException(
            $"The memory holds {Units.Bytes(size)}, which is not a whole number of {TypeNames.Display(typeof(T))} elements " +
            $"({sizeof(T)} bytes each): it was written with another element type, or is not an array of {TypeNames.Display(typeof(T))}.");
    }

    /// <summary>The number of elements.</summary>
    public long Length { get; }

    /// <summary>What a named array of this type advertises, so that Open can refuse another element type.</summary>
    private static string Contents => $"SharedArray<{typeof(T).FullName}>:{sizeof(T)}";

    /// <summary>Creates an array of <paramref name="length"/> zeroed elements in shared memory.</summary>
    /// <param name="length">The number of elements; may exceed <see cref="int.MaxValue"/>.</param>
    /// <param name="name">A name by which other programs of this user can <see cref="Open"/> it while this object lives; null for none.</param>
    /// <exception cref="SharedMemoryException">The machine cannot give that much memory (the message gives the limit), or the name is taken.</exception>
    public static SharedArray<T> Create(long length, string? name = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        long bytes = ByteLength(length);
        return new SharedArray<T>(SharedSegment.CreateMemory(bytes, $"mp:SharedArray<{typeof(T).Name}>", name, Contents), ownsSegment: true, readOnly: false);
    }

    /// <summary>Creates an array in shared memory holding a copy of <paramref name="values"/>.</summary>
    /// <param name="values">The initial contents.</param>
    /// <param name="name">A name by which other programs can <see cref="Open"/> it while this object lives; null for none.</param>
    public static SharedArray<T> CreateFrom(ReadOnlySpan<T> values, string? name = null)
    {
        SharedArray<T> array = Create(values.Length, name);
        values.CopyTo(array.AsSpan());
        return array;
    }

    /// <summary>Opens the array another process created with <paramref name="name"/>.</summary>
    /// <param name="name">The name it was created with.</param>
    /// <param name="readOnly">Map it read-only: this object then refuses writes, and the memory cannot be written through it.</param>
    /// <exception cref="SharedMemoryException">No live process holds that name, or it holds something other than an array of <typeparamref name="T"/>.</exception>
    public static SharedArray<T> Open(string name, bool readOnly = false)
    {
        SharedSegment segment = SharedSegment.OpenNamed(name, writable: !readOnly, out string contents);
        if (contents != Contents && contents != SharedMemory.RawContents)
        {
            segment.Dispose();
            throw new SharedMemoryException($"The shared segment named '{name}' holds {contents.Split(':')[0]}, not SharedArray<{TypeNames.Display(typeof(T))}>.");
        }
        return new SharedArray<T>(segment, ownsSegment: true, readOnly);
    }

    /// <summary>
    /// Creates a file of <paramref name="length"/> elements (owner-only permissions) and maps it
    /// shared. The kernel pages it to and from disk, so it may exceed RAM; its contents stay in the
    /// file after this object is disposed. The file holds the raw elements and nothing else.
    /// </summary>
    /// <param name="path">The file to create.</param>
    /// <param name="length">The number of elements.</param>
    /// <param name="overwrite">Replace an existing file; otherwise an existing file is an error. A symbolic link is never followed, even with overwrite.</param>
    /// <exception cref="SharedMemoryException">The file system cannot hold the file, or <paramref name="path"/> is a symbolic link.</exception>
    /// <exception cref="IOException">The file exists and <paramref name="overwrite"/> is false, or it cannot be created.</exception>
    public static SharedArray<T> CreateFile(string path, long length, bool overwrite = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return new SharedArray<T>(SharedSegment.CreateFile(path, ByteLength(length), overwrite), ownsSegment: true, readOnly: false);
    }

    /// <summary>Maps an existing file of raw <typeparamref name="T"/> elements (as written by <see cref="CreateFile"/>, or by numpy's <c>tofile</c>).</summary>
    /// <param name="path">The file.</param>
    /// <param name="readOnly">Map it read-only.</param>
    /// <exception cref="SharedMemoryException">The file's length is not a multiple of the element size.</exception>
    public static SharedArray<T> OpenFile(string path, bool readOnly = false) =>
        new(SharedSegment.OpenFile(path, writable: !readOnly), ownsSegment: true, readOnly);

    static SharedArray<T> ISharedObjectFactory<SharedArray<T>>.Attach(SharedSegment segment, bool readOnly, ref PayloadReader reader) =>
        new(segment, ownsSegment: false, readOnly);

    /// <summary>A view of the same memory that refuses writes; passed to a task, the worker maps it read-only.</summary>
    public SharedArray<T> AsReadOnly()
    {
        ThrowIfDisposed();
        return new SharedArray<T>(Segment, ownsSegment: false, readOnly: true);
    }

    /// <summary>Gets or sets the element at <paramref name="index"/>.</summary>
    /// <exception cref="InvalidOperationException">Setting an element of a read-only array.</exception>
    public T this[long index]
    {
        get
        {
            if ((ulong)index >= (ulong)Length)
            {
                ThrowIfDisposed();
                ThrowIndex(index);
            }
            // Read first, then check: a Dispose on another thread leaves the address mapped (to zero
            // pages) while this object is alive, and the check after the read, which also keeps this
            // object alive until then, refuses a value that may have come from those pages.
            T item = _items[index];
            ThrowIfDisposedAfterRead();
            return item;
        }
        set
        {
            ThrowIfDisposed();
            ThrowIfReadOnly();
            CheckIndex(index);
            _items[index] = value;
            // Until the write is done, the mapping must not be released with this object (see Segment.Pointer).
            GC.KeepAlive(this);
        }
    }

    /// <summary>A reference to the element at <paramref name="index"/>, for <see cref="Interlocked"/> and <see cref="Volatile"/> across processes.</summary>
    /// <exception cref="InvalidOperationException">The array is read-only.</exception>
    public ref T GetReference(long index)
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        CheckIndex(index);
        return ref _items[index];
    }

    /// <summary>All elements as a span.</summary>
    /// <exception cref="InvalidOperationException">The array is read-only, or longer than a span can be (take ranges).</exception>
    public Span<T> AsSpan() => AsSpan(0, CheckedSpanLength(Length));

    /// <summary>The elements from <paramref name="start"/> to the end.</summary>
    public Span<T> AsSpan(long start) => AsSpan(start, CheckedSpanLength(Length - CheckStart(start)));

    /// <summary><paramref name="length"/> elements from <paramref name="start"/>.</summary>
    public Span<T> AsSpan(long start, int length)
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        CheckRange(start, length);
        return new Span<T>(_items + start, length);
    }

    /// <summary>All elements, read-only.</summary>
    public ReadOnlySpan<T> AsReadOnlySpan() => AsReadOnlySpan(0, CheckedSpanLength(Length));

    /// <summary>The elements from <paramref name="start"/> to the end, read-only.</summary>
    public ReadOnlySpan<T> AsReadOnlySpan(long start) => AsReadOnlySpan(start, CheckedSpanLength(Length - CheckStart(start)));

    /// <summary><paramref name="length"/> elements from <paramref name="start"/>, read-only.</summary>
    public ReadOnlySpan<T> AsReadOnlySpan(long start, int length)
    {
        ThrowIfDisposed();
        CheckRange(start, length);
        return new ReadOnlySpan<T>(_items + start, length);
    }

    /// <summary><paramref name="length"/> elements from <paramref name="start"/> as <see cref="Memory{T}"/>, for async code and APIs that take memory.</summary>
    public Memory<T> AsMemory(long start, int length)
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        CheckRange(start, length);
        return new SharedMemoryManager<T>(_items + start, length, this).Memory;
    }

    /// <summary><paramref name="length"/> elements from <paramref name="start"/> as <see cref="ReadOnlyMemory{T}"/>.</summary>
    public ReadOnlyMemory<T> AsReadOnlyMemory(long start, int length)
    {
        ThrowIfDisposed();
        CheckRange(start, length);
        return new SharedMemoryManager<T>(_items + start, length, this).Memory;
    }

    /// <summary>Copies the elements into a new managed array.</summary>
    /// <exception cref="ObjectDisposedException">The array was disposed, before or during the copy.</exception>
    public T[] ToArray()
    {
        T[] copy = AsReadOnlySpan().ToArray();
        // A Dispose during the copy may have swapped zero pages in under it: refuse that copy.
        ThrowIfDisposedAfterRead();
        return copy;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"SharedArray<{TypeNames.Display(typeof(T))}>[{Length:N0}]{(IsReadOnly ? " (read-only)" : "")}{(Name is null ? "" : $" '{Name}'")}";

    private static long ByteLength(long length)
    {
        try
        {
            return checked(length * sizeof(T));
        }
        catch (OverflowException)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"{length:N0} elements of {sizeof(T)} bytes overflow a 64-bit size.");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckIndex(long index)
    {
        if ((ulong)index >= (ulong)Length)
        {
            ThrowIndex(index);
        }
    }

    [DoesNotReturn]
    private void ThrowIndex(long index) =>
        throw new ArgumentOutOfRangeException(nameof(index), index, $"The array has {Length:N0} elements.");

    private long CheckStart(long start)
    {
        if ((ulong)start > (ulong)Length)
        {
            throw new ArgumentOutOfRangeException(nameof(start), start, $"The array has {Length:N0} elements.");
        }
        return start;
    }

    private void CheckRange(long start, int length)
    {
        if ((ulong)start > (ulong)Length || length < 0 || length > Length - start)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"The range [{start:N0}, {start + length:N0}) is outside the array's {Length:N0} elements.");
        }
    }

    private static int CheckedSpanLength(long length)
    {
        if (length > int.MaxValue)
        {
            throw new InvalidOperationException(
                $"{length:N0} elements do not fit in one span (at most {int.MaxValue:N0}); take ranges with AsSpan(start, length).");
        }
        return (int)length;
    }
}
