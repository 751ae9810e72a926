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
/// <para>The five primitives use it typed, as <see cref="FutexPrimitive{TState}"/>; channels and pipes,
/// whose size is chosen at creation, use it as it is.</para>
/// </remarks>
internal unsafe class SyncMemory : IDisposable
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

    private protected SyncMemory(SegmentClaim claim)
    {
        Segment = claim.Segment;
        Base = claim.Segment.Pointer;
        _ownsSegment = claim.OwnsSegment;
        _isCreator = claim.IsCreator;
        _futexOffsets = claim.Layout.FutexOffsets;
        _typeName = claim.Layout.TypeName;
    }

    public SharedSegment Segment { get; }

    /// <summary>The start of the mapping; valid while a use is held.</summary>
    public byte* Base { get; }

    /// <summary>A pointer to the object's word at <paramref name="offset"/> after <see cref="StateOffset"/>.</summary>
    public T* At<T>(int offset) where T : unmanaged => (T*)(Base + StateOffset + offset);

    /// <summary>Creates a zeroed segment of <paramref name="size"/> bytes for a new object whose size is chosen at creation (a channel's ring).</summary>
    /// <param name="size">The state's size, header excluded.</param>
    /// <param name="typeName">The public type, for messages and <c>/proc/PID/maps</c>.</param>
    /// <param name="name">A name other programs can open it by, or null.</param>
    /// <param name="contents">What a named segment says it holds, checked on open.</param>
    /// <param name="futexOffsets">The offsets (after the header) of the words waiters sleep on, woken when the object closes.</param>
    public static SyncMemory Create(int size, string typeName, string? name, string contents, int[] futexOffsets) =>
        new(SegmentClaim.Create(new SyncLayout(typeName, contents, size, futexOffsets), name));

    /// <summary>Opens the segment another process created under <paramref name="name"/>, checking what it holds.</summary>
    public static SyncMemory Open(string name, int size, string typeName, string contents, int[] futexOffsets) =>
        new(SegmentClaim.Open(new SyncLayout(typeName, contents, size, futexOffsets), name));

    /// <summary>Wraps a segment that arrived as a descriptor.</summary>
    public static SyncMemory Attach(SharedSegment segment, bool readOnly, int size, string typeName, int[] futexOffsets) =>
        new(SegmentClaim.Attach(new SyncLayout(typeName, "", size, futexOffsets), segment, readOnly));

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

    /// <summary>Starts a use that the returned scope ends: <c>using var use = memory.EnterScope();</c>.</summary>
    /// <exception cref="ObjectDisposedException">The object is closed.</exception>
    public UseScope EnterScope()
    {
        Enter();
        return new UseScope(this);
    }

    /// <summary>Reads a word of the object under a use: every public getter of a primitive is one of these.</summary>
    /// <exception cref="ObjectDisposedException">The object is closed.</exception>
    public int Read(int* word)
    {
        using UseScope use = EnterScope();
        return Volatile.Read(ref *word);
    }

    /// <inheritdoc cref="Read(int*)"/>
    public long Read(long* word)
    {
        using UseScope use = EnterScope();
        return Volatile.Read(ref *word);
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

    /// <summary>Closes the object: see <see cref="Close"/>.</summary>
    public void Dispose() => Close();

    private void ReleaseSegment()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0 && _ownsSegment)
        {
            Segment.Dispose();
        }
    }

    /// <summary>The <c>ToString</c> of a primitive: its type, what it adds, its name, and whether it is disposed.</summary>
    public string Describe(SharedObject owner, string detail = "") =>
        $"{_typeName}{detail}{(owner.Name is null ? "" : $" '{owner.Name}'")}{(owner.IsDisposed ? " (disposed)" : "")}";

    public ObjectDisposedException Disposed() => new(_typeName,
        $"This {_typeName} was disposed, or the object that created it was (disposing the creating object closes it in every process).");

    [Conditional("DEBUG")]
    public void AssertEntered() => Debug.Assert(Volatile.Read(ref _uses) >= OneUse, "The segment is used without a use held.");

    /// <summary>A segment and how this object came by it: the three ways in, each checked once here.</summary>
    private protected readonly record struct SegmentClaim(SharedSegment Segment, SyncLayout Layout, bool OwnsSegment, bool IsCreator)
    {
        public static SegmentClaim Create(SyncLayout layout, string? name) =>
            new(SharedSegment.CreateMemory(StateOffset + layout.StateSize, $"mp:{layout.TypeName}", name, layout.Contents), layout, OwnsSegment: true, IsCreator: true);

        public static SegmentClaim Open(SyncLayout layout, string name)
        {
            SharedSegment segment = SharedSegment.OpenNamed(name, writable: true, out string actual);
            if (actual != layout.Contents || segment.Size != StateOffset + layout.StateSize)
            {
                segment.Dispose();
                throw new SharedMemoryException($"The shared segment named '{name}' holds {actual.Split(':')[0]}, not a {layout.TypeName}.");
            }
            return new(segment, layout, OwnsSegment: true, IsCreator: false);
        }

        public static SegmentClaim Attach(SyncLayout layout, SharedSegment segment, bool readOnly)
        {
            if (readOnly || !segment.IsWritable)
            {
                // Waiting means writing (waiter counts, compare-and-swap): a read-only mapping would fault.
                throw new SharedMemoryException($"A {layout.TypeName} arrived read-only; synchronisation objects must be mapped writable.");
            }
            if (segment.Size != StateOffset + layout.StateSize)
            {
                throw new SharedMemoryException($"The memory that arrived holds {segment.Size} bytes, not a {layout.TypeName} ({StateOffset + layout.StateSize} bytes).");
            }
            // Attached segments are shared with other objects of this process: never unmapped here.
            return new(segment, layout, OwnsSegment: false, IsCreator: false);
        }
    }

    /// <summary>One use of the memory, ended by <see cref="Dispose"/>; a ref struct, so it costs no allocation.</summary>
    public readonly ref struct UseScope(SyncMemory memory)
    {
        public void Dispose() => memory.Exit();
    }
}
