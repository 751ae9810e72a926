namespace Multiprocessing;

/// <summary>
/// Proof that this process holds a <see cref="SharedLock"/>: disposing it releases the lock.
/// Returned by <see cref="SharedLock.Acquire(CancellationToken)"/> and its siblings, for use in a
/// <c>using</c> statement.
/// </summary>
/// <remarks>
/// Ownership belongs to the process, not to the thread: any thread of this process may dispose the
/// releaser (an <c>await</c> between acquire and release may resume on another thread). Disposing
/// twice releases once. Disposing after the lock itself was disposed does nothing.
/// </remarks>
public sealed class LockReleaser : IDisposable
{
    private SharedLock? _lock;

    internal LockReleaser(SharedLock owner, bool isAbandoned)
    {
        _lock = owner;
        Lock = owner;
        IsAbandoned = isAbandoned;
    }

    /// <summary>The lock this releaser releases.</summary>
    public SharedLock Lock { get; }

    /// <summary>
    /// True when the previous owner died (was killed, crashed) while holding the lock, and this
    /// process took it over. The lock is held all the same; but whatever it guards may be half
    /// written. Check or repair that state before relying on it (for example: keep a version or
    /// checksum beside the data, or rebuild it), then carry on; the next owner sees
    /// <see cref="IsAbandoned"/> false again.
    /// </summary>
    /// <remarks>Also set when a <see cref="SharedCondition"/> wait re-acquires an abandoned lock for this releaser.</remarks>
    public bool IsAbandoned { get; internal set; }

    /// <summary>Whether this releaser still holds the lock (it has not been disposed).</summary>
    public bool IsHeld => Volatile.Read(ref _lock) is not null;

    /// <summary>Releases the lock, waking one waiter if any; does nothing the second time.</summary>
    public void Dispose() => Interlocked.Exchange(ref _lock, null)?.Release();
}
