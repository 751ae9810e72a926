namespace Multiprocessing.Synchronization;

/// <summary>
/// What one kind of futex-word object is in shared memory: the facts that creating, opening by name
/// and attaching from a descriptor must agree on. Each primitive declares one, once, so that the
/// three ways in cannot drift apart (a size checked on open but not on attach, a type name spelt
/// two ways in its messages).
/// </summary>
/// <param name="TypeName">The public type, for messages and <c>/proc/PID/maps</c>.</param>
/// <param name="Contents">What a named segment says it holds, with a layout version; checked on open.</param>
/// <param name="StateSize">The object's own bytes after the <see cref="SyncMemory"/> header.</param>
/// <param name="FutexOffsets">The offsets (after the header) of the words waiters sleep on: closing wakes them.</param>
internal sealed record SyncLayout(string TypeName, string Contents, int StateSize, int[] FutexOffsets)
{
    /// <summary>The layout of a primitive whose state is <typeparamref name="TState"/>, as it lies in the segment (its size is the struct's).</summary>
    public static unsafe SyncLayout Of<TState>(string typeName, string contents, params int[] futexOffsets) where TState : unmanaged =>
        new(typeName, contents, sizeof(TState), futexOffsets);
}
