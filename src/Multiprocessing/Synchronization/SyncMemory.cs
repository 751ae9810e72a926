using System.Diagnostics;
using Multiprocessing.Interop;
using Multiprocessing.Sharing;

namespace Multiprocessing.Synchronization;

/// <summary>
/// The shared segment behind one synchronisation object, and the rules for using it safely while
/// it may be disposed. The segment starts with a header whose first word is the "closed" flag:
/// the object that created the segment sets it when disposed, so that waiters in every process
/// stop with <see cref="ObjectDisposedException"/> instead of waiting for a wake that will never
/// come. The object's own words follow at <see cref="StateOffset"/>.
/// </summary>
/// <remarks>
/// Threads of this process may be asleep inside a futex call, or about to read a word, when
/// <see cref="Close"/> runs; unmapping the segment under them would crash the process. So every
/// operation holds a use (<see cref="TryEnter"/> / <see cref="Exit"/>), and the segment is
/// disposed only when the object is closed and the last use has ended. Segments this object did
/// not create or open (attached from a descriptor) are never unmapped here: they are shared with
/// other objects of this process and are released by the garbage collector.
/// </remarks>
internal sealed unsafe class SyncMemory
{
    /// <summary>Where the object's own words start: 8-byte aligned, so a 64-bit word may come first.</summary>
    public const int StateOffset = 8;

    private const int ClosedBit = 1;
    private const int OneUse = 2;

    private readonly bool _ownsSegment;
    private readonly bool _isCreator;
    private readonly int[] _futexOffsets;
    private readonly string _typeName;
    private int _uses;
    private int _released;

    private SyncMemory(SharedSegment segment, bool ownsSegment, bool isCreator, int[] futexOffsets, string typeName)
    {
        Segment = segment;
        Base = segment.Pointer;
        _ownsSegment = ownsSegment;
        _isCreator = isCreator;
        _futexOffsets = futexOffsets;
        _typeName = typeName;
    }

    public SharedSegment Segment { get; }

    /// <summary>The start of the mapping; valid while a use is held.</summary>
    public byte* Base { get; }

    /// <summary>A pointer to the object's word at <paramref name="offset"/> after <see cref="StateOffset"/>.</summary>
    public T* At<T>(int offset) where T : unmanaged => (T*)(Base + StateOffset + offset);

    /// <summary>Creates a zeroed segment of <paramref name="size"/> bytes for a new object.</summary>
    /// <param name="size">The state's size, header excluded.</param>
    /// <param name="typeName">The public type, for messages and <c>/proc/PID/maps</c>.</param>
    /// <param name="name">A name other programs can open it by, or null.</param>
    /// <param name="contents">What a named segment says it holds, checked on open.</param>
    /// <param name="futexOffsets">The offsets (after the header) of the words waiters sleep on, woken when the object closes.</param>
    public static SyncMemory Create(int size, string typeName, string? name, string contents, int[] futexOffsets) =>
        new(SharedSegment.CreateMemory(StateOffset + size, $"mp:{typeName}", name, contents), ownsSegment: true, isCreator: true, futexOffsets, typeName);

    /// <summary>Opens the segment another process created under <paramref name="name"/>, checking what it holds.</summary>
    public static SyncMemory Open(string name, int size, string typeName, string contents, int[] futexOffsets)
    {
        SharedSegment segment = SharedSegment.OpenNamed(name, writable: true, out string actual);
        if (actual != contents || segment.Size != StateOffset + size)
        {
            segment.Dispose();
            throw new SharedMemoryException($"The shared segment named '{name}' holds {actual.Split(':')[0]}, not a {typeName}.");
        }
        return new SyncMemory(segment, ownsSegment: true, isCreator: false, futexOffsets, typeName);
    }

    /// <summary>Wraps a segment that arrived as a descriptor.</summary>
    public static SyncMemory Attach(SharedSegment segment, bool readOnly, int size, string typeName, int[] futexOffsets)
    {
        if (readOnly || !segment.IsWritable)
        {
            // Waiting means writing (waiter counts, compare-and-swap): a read-only mapping would fault.
            throw new SharedMemoryException($"A {typeName} arrived read-only; synchronisation objects must be mapped writable.");
        }
        if (segment.Size != StateOffset + size)
        {
            throw new SharedMemoryException($"The memory that arrived holds {segment.Size} bytes, not a {typeName} ({StateOffset + size} bytes).");
        }
        return new SyncMemory(segment, ownsSegment: false, isCreator: false, futexOffsets, typeName);
    }

    /// <summary>Whether the object is closed here or by its creator; read only while a use is held.</summary>
    public bool IsClosed => (Volatile.Read(ref _uses) & ClosedBit) != 0 || Volatile.Read(ref *(int*)Base) != 0;

    /// <summary>Starts a use; false when the object is closed (the caller throws <see cref="Disposed"/>).</summary>
    public bool TryEnter()
    {
        if ((Interlocked.Add(ref _uses, OneUse) & ClosedBit) != 0)
        {
            Exit();
            return false;
        }
        // The use is counted, so the mapping stays until Exit: the shared flag can be read.
        if (Volatile.Read(ref *(int*)Base) != 0)
        {
            Exit();
            return false;
        }
        return true;
    }

    /// <summary>Starts a use or throws <see cref="ObjectDisposedException"/>.</summary>
    public void Enter()
    {
        if (!TryEnter())
        {
            throw Disposed();
        }
    }

    /// <summary>Ends a use; the last one out of a closed object releases the segment.</summary>
    public void Exit()
    {
        if (Interlocked.Add(ref _uses, -OneUse) == ClosedBit)
        {
            ReleaseSegment();
        }
    }

    /// <summary>
    /// Closes the object in this process (and, for the creator, in every process), wakes everyone
    /// asleep on its words so they see it, and releases the segment once no use is left.
    /// </summary>
    public void Close()
    {
        int before = Interlocked.Add(ref _uses, OneUse);
        if ((before & ClosedBit) != 0)
        {
            Exit();
            return;
        }
        if (_isCreator)
        {
            Volatile.Write(ref *(int*)Base, 1);
        }
        Interlocked.Or(ref _uses, ClosedBit);
        foreach (int offset in _futexOffsets)
        {
            Libc.FutexWake(At<int>(offset), int.MaxValue);
        }
        Exit();
    }

    private void ReleaseSegment()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0 && _ownsSegment)
        {
            Segment.Dispose();
        }
    }

    public ObjectDisposedException Disposed() => new(_typeName,
        $"This {_typeName} was disposed, or the object that created it was (disposing the creating object closes it in every process).");

    [Conditional("DEBUG")]
    public void AssertEntered() => Debug.Assert(Volatile.Read(ref _uses) >= OneUse, "The segment is used without a use held.");
}
