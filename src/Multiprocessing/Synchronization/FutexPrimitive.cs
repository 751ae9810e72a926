using Multiprocessing.Sharing;

namespace Multiprocessing.Synchronization;

/// <summary>
/// The words of one kind of primitive as they lie in shared memory (a struct read and written
/// through a pointer into the segment), and the <see cref="SyncLayout"/> that names them.
/// </summary>
internal interface ISyncState
{
    /// <summary>What creating, opening and attaching this kind of primitive check: its type, contents tag, size and futex words.</summary>
    static abstract SyncLayout Layout { get; }
}

/// <summary>
/// What every futex-word primitive (<see cref="SharedLock"/>, <see cref="SharedSemaphore"/>,
/// <see cref="SharedEvent"/>, <see cref="SharedCondition"/>, <see cref="SharedBarrier"/>) is made of
/// beside its own state machine: a segment created, opened by name or attached from a descriptor
/// and checked against <typeparamref name="TState"/>'s layout; the use counting that keeps it mapped
/// under a reader or a sleeper (<see cref="SyncMemory"/>), with <see cref="ObjectDisposedException"/>
/// from every use once it is closed; closing that wakes every sleeper in every process; and the
/// typed state itself.
/// </summary>
/// <remarks>
/// It is the base the primitives would derive from if they could: they are public, and a public
/// class cannot derive from an internal one, while a public base would add to the public API. So
/// each derives from <see cref="SharedObject"/> (which writes its descriptor for a worker) and holds
/// one of these, handing it to <see cref="SharedObject"/> as the holder of its segment: disposing
/// the primitive closes it. What is left in a primitive is its state struct and its state machine.
/// </remarks>
internal sealed unsafe class FutexPrimitive<TState> : SyncMemory where TState : unmanaged, ISyncState
{
    private FutexPrimitive(SegmentClaim claim)
        : base(claim)
    {
        State = At<TState>(0);
    }

    /// <summary>The primitive's words in the segment; touch them only while a use is held.</summary>
    public TState* State { get; }

    /// <summary>Creates the segment of a new primitive, holding <paramref name="initial"/>.</summary>
    /// <param name="name">A name other programs can open it by, or null.</param>
    /// <param name="initial">The state it starts in (the segment is zeroed before).</param>
    public static FutexPrimitive<TState> Create(string? name, in TState initial = default)
    {
        var created = new FutexPrimitive<TState>(SegmentClaim.Create(TState.Layout, name));
        *created.State = initial;
        return created;
    }

    /// <summary>Opens the primitive another process created under <paramref name="name"/>.</summary>
    /// <exception cref="SharedMemoryException">No live process holds that name, or it names something else.</exception>
    public static FutexPrimitive<TState> Open(string name) => new(SegmentClaim.Open(TState.Layout, name));

    /// <summary>Wraps the segment of a primitive that arrived as a descriptor.</summary>
    /// <exception cref="SharedMemoryException">It arrived read-only, or is not the size of this kind.</exception>
    public static FutexPrimitive<TState> Attach(SharedSegment segment, bool readOnly) => new(SegmentClaim.Attach(TState.Layout, segment, readOnly));
}
