using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Sharing;

namespace Multiprocessing;

/// <summary>
/// Something that lives in shared memory and can be passed to a pool task or a
/// <see cref="WorkerProcess"/> as an argument: what crosses the process boundary is a descriptor of a
/// few dozen bytes, and the task receives an object attached to the same physical pages.
/// </summary>
/// <remarks>
/// The object that created the memory owns it: disposing that object releases this process's hold,
/// and the kernel frees the memory once no process maps it. Objects that arrive in a task, and
/// read-only views, do not own the memory; disposing them only makes them unusable.
/// <para>After Dispose every member that reads or writes the memory throws
/// <see cref="ObjectDisposedException"/>, also when Dispose runs on another thread during the call:
/// the call then either completes on the memory or throws, and never faults (Dispose releases the
/// shared pages at once, but the address range stays mapped, to private zero pages, until the object
/// is collected). Members that describe the object (<see cref="Name"/>, <see cref="FilePath"/>,
/// <see cref="IsReadOnly"/>, <see cref="IsDisposed"/>, lengths and sizes, <c>ToString</c>) do not touch
/// the memory and stay readable.</para>
/// <para>Spans and references handed out (<c>AsSpan</c>, <c>GetReference</c>, <c>Value</c>) cannot be
/// checked once returned, as with <see cref="System.Buffers.MemoryManager{T}"/>: they must not be used
/// after the object is disposed. Until the object is collected they reach the zero pages (writes are
/// lost, reads see zeros); after that, the address may be unmapped or reused.
/// <c>AsMemory</c> is checked on every <c>Span</c> it gives.</para>
/// </remarks>
public abstract class SharedObject : IDisposable
{
    private readonly bool _ownsSegment;
    private readonly IDisposable? _holder;
    private int _disposed;

    private protected SharedObject(SharedSegment segment, bool ownsSegment, bool readOnly)
    {
        Segment = segment;
        _ownsSegment = ownsSegment;
        IsReadOnly = readOnly || !segment.IsWritable;
        if (ownsSegment)
        {
            SegmentAttachments.RegisterCreated(segment);
        }
    }

    /// <summary>
    /// An object whose segment another object holds: the use-counted memory of a synchronisation
    /// primitive, which must outlive threads still asleep on it. Disposing this object disposes
    /// <paramref name="holder"/>, which releases the segment when its last use ends.
    /// </summary>
    private protected SharedObject(SharedSegment segment, IDisposable holder)
        : this(segment, ownsSegment: false, readOnly: false) => _holder = holder;

    internal SharedSegment Segment { get; }

    /// <summary>Whether this object only reads: it was opened read-only, is a read-only view, or arrived as one.</summary>
    public bool IsReadOnly { get; }

    /// <summary>The name other programs can open the memory by, or null if it was created without one.</summary>
    public string? Name => Segment.Name;

    /// <summary>The file behind a file-backed object, or null for memory.</summary>
    public string? FilePath => Segment.FilePath;

    /// <summary>Whether <see cref="Dispose()"/> was called on this object, or on the object that owns its memory.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0 || Segment.IsDisposed;

    /// <summary>Writes what a process needs to attach: the segment's descriptor, then anything the type adds.</summary>
    internal void WriteDescriptor(PayloadWriter writer)
    {
        ThrowIfDisposed();
        Segment.Describe(writable: !IsReadOnly).Write(writer);
        WriteState(writer);
    }

    /// <summary>Types that keep more than their segment (an offset, a capacity) write it here and read it in their attach factory.</summary>
    private protected virtual void WriteState(PayloadWriter writer)
    {
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private protected void ThrowIfDisposed()
    {
        if (IsDisposed)
        {
            ThrowDisposed();
        }
    }

    /// <summary>
    /// <see cref="ThrowIfDisposed"/> for a member that has just read the memory and returns what it
    /// read only if the object was not disposed meanwhile (a racing Dispose swaps in zero pages).
    /// The barrier keeps those reads before the check; it costs nothing on x64, whose loads are not
    /// reordered with loads, and orders them on Arm64, whose loads may be.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private protected void ThrowIfDisposedAfterRead()
    {
        Volatile.ReadBarrier();
        ThrowIfDisposed();
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowDisposed() =>
        throw new ObjectDisposedException(GetType().Name, "This shared object was disposed (or the object that owns its memory was).");

    private protected void ThrowIfReadOnly()
    {
        if (IsReadOnly)
        {
            throw new InvalidOperationException(
                $"This {TypeNames.Display(GetType())} is read-only (opened read-only, a read-only view, or received as one); it cannot be written. " +
                "Read it with AsReadOnlySpan or the indexer's getter.");
        }
    }

    /// <summary>Releases this object; if it owns the memory, this process's hold on it too.</summary>
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the memory this object owns.</summary>
    /// <param name="disposing">True when called from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _holder?.Dispose();
        if (!_ownsSegment)
        {
            return;
        }
        SegmentAttachments.UnregisterCreated(Segment);
        Segment.Dispose();
    }
}

/// <summary>Builds a shared object of type <typeparamref name="TSelf"/> around a segment that arrived in a message.</summary>
internal interface ISharedObjectFactory<TSelf> where TSelf : SharedObject
{
    /// <summary>The object over <paramref name="segment"/>, reading what <see cref="SharedObject.WriteState"/> wrote.</summary>
    static abstract TSelf Attach(SharedSegment segment, bool readOnly, ref PayloadReader reader);
}
