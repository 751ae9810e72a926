using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Sharing;

namespace Multiprocessing;

/// <summary>
/// A block of raw bytes in shared memory, for data you lay out yourself (Python's
/// <c>multiprocessing.shared_memory.SharedMemory</c>). Pass it to a task and the task receives a
/// block attached to the same pages. For typed data prefer <see cref="SharedArray{T}"/>.
/// </summary>
public sealed unsafe class SharedMemory : SharedObject, ISharedObjectFactory<SharedMemory>
{
    internal const string RawContents = "SharedMemory";

    private readonly byte* _bytes;

    private SharedMemory(SharedSegment segment, bool ownsSegment, bool readOnly)
        : base(segment, ownsSegment, readOnly) => _bytes = segment.Pointer;

    /// <summary>The number of bytes.</summary>
    public long Size => Segment.Size;

    /// <summary>Creates a block of <paramref name="size"/> zeroed bytes.</summary>
    /// <param name="size">The number of bytes.</param>
    /// <param name="name">A name by which other programs of this user can <see cref="Open"/> it while this object lives; null for none.</param>
    /// <exception cref="SharedMemoryException">The machine cannot give that much memory, or the name is taken.</exception>
    public static SharedMemory Create(long size, string? name = null) =>
        new(SharedSegment.CreateMemory(size, "mp:SharedMemory", name, RawContents), ownsSegment: true, readOnly: false);

    /// <summary>Opens the shared memory another process created with <paramref name="name"/> (a block, an array or a value: the raw bytes of any of them).</summary>
    /// <param name="name">The name it was created with.</param>
    /// <param name="readOnly">Map it read-only.</param>
    public static SharedMemory Open(string name, bool readOnly = false) =>
        new(SharedSegment.OpenNamed(name, writable: !readOnly, out _), ownsSegment: true, readOnly);

    /// <summary>Creates a file of <paramref name="size"/> bytes (owner-only permissions) and maps it shared; it may exceed RAM.</summary>
    /// <param name="path">The file to create.</param>
    /// <param name="size">The number of bytes.</param>
    /// <param name="overwrite">Replace an existing file; otherwise an existing file is an error. A symbolic link is never followed, even with overwrite.</param>
    /// <exception cref="SharedMemoryException">The file system cannot hold the file, or <paramref name="path"/> is a symbolic link.</exception>
    /// <exception cref="IOException">The file exists and <paramref name="overwrite"/> is false, or it cannot be created.</exception>
    public static SharedMemory CreateFile(string path, long size, bool overwrite = false) =>
        new(SharedSegment.CreateFile(path, size, overwrite), ownsSegment: true, readOnly: false);

    /// <summary>Maps all of an existing file.</summary>
    public static SharedMemory OpenFile(string path, bool readOnly = false) =>
        new(SharedSegment.OpenFile(path, writable: !readOnly), ownsSegment: true, readOnly);

    static SharedMemory ISharedObjectFactory<SharedMemory>.Attach(SharedSegment segment, bool readOnly, ref PayloadReader reader) =>
        new(segment, ownsSegment: false, readOnly);

    /// <summary>A view of the same bytes that refuses writes; passed to a task, the worker maps it read-only.</summary>
    public SharedMemory AsReadOnly()
    {
        ThrowIfDisposed();
        return new SharedMemory(Segment, ownsSegment: false, readOnly: true);
    }

    /// <summary><paramref name="length"/> bytes from <paramref name="offset"/>.</summary>
    public Span<byte> AsSpan(long offset, int length) => AsSpan<byte>(offset, length);

    /// <summary><paramref name="length"/> bytes from <paramref name="offset"/>, read-only.</summary>
    public ReadOnlySpan<byte> AsReadOnlySpan(long offset, int length) => AsReadOnlySpan<byte>(offset, length);

    /// <summary><paramref name="count"/> values of <typeparamref name="T"/> laid out from <paramref name="byteOffset"/>, which must be aligned for <typeparamref name="T"/>.</summary>
    public Span<T> AsSpan<T>(long byteOffset, int count) where T : unmanaged
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        return new Span<T>(Locate<T>(byteOffset, count), count);
    }

    /// <summary><paramref name="count"/> values of <typeparamref name="T"/> from <paramref name="byteOffset"/>, read-only.</summary>
    public ReadOnlySpan<T> AsReadOnlySpan<T>(long byteOffset, int count) where T : unmanaged =>
        new(Locate<T>(byteOffset, count), count);

    /// <summary>A reference to the <typeparamref name="T"/> at <paramref name="byteOffset"/> (aligned), for <see cref="Interlocked"/> and <see cref="Volatile"/> across processes.</summary>
    public ref T GetReference<T>(long byteOffset) where T : unmanaged
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        return ref *Locate<T>(byteOffset, 1);
    }

    /// <inheritdoc/>
    public override string ToString() => $"SharedMemory[{Size:N0} bytes]{(IsReadOnly ? " (read-only)" : "")}{(Name is null ? "" : $" '{Name}'")}";

    private T* Locate<T>(long byteOffset, int count) where T : unmanaged
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (byteOffset < 0 || byteOffset > Size || (long)count * sizeof(T) > Size - byteOffset)
        {
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"{count:N0} × {sizeof(T)} bytes at offset {byteOffset:N0} do not fit in the block's {Size:N0} bytes.");
        }
        // The natural alignment of T: the largest power of two that divides its size, at most 8.
        int alignment = Math.Min(sizeof(T) & -sizeof(T), 8);
        if (byteOffset % alignment != 0)
        {
            throw new ArgumentException($"Offset {byteOffset:N0} is not aligned for {TypeNames.Display(typeof(T))}; use a multiple of {alignment}.", nameof(byteOffset));
        }
        return (T*)(_bytes + byteOffset);
    }
}
