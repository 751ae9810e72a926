using Multiprocessing.Interop;

namespace Multiprocessing.Sharing;

/// <summary>
/// The segments this process has attached to because shared objects arrived in messages. A pool
/// passes the same array to thousands of tasks; each arrival finds the mapping made for the first
/// instead of opening and mapping the segment again. An entry is dropped once the segment's owner
/// no longer holds it (it disposed it or exited); the mapping itself is released when the last
/// object using it is collected, so a task that kept a reference never sees its memory vanish.
/// </summary>
internal static class SegmentAttachments
{
    private static readonly Lock s_gate = new();
    private static readonly Dictionary<(ulong Device, ulong Inode, bool Writable), Entry> s_attached = [];
    private static readonly Dictionary<(ulong Device, ulong Inode), WeakReference<SharedSegment>> s_created = [];
    private static Timer? s_sweeper;

    /// <summary>Set in worker processes: after dropping entries, collect at once so that the memory is unmapped promptly.</summary>
    public static bool CollectAfterSweep { get; set; }

    /// <summary>How long an owner's release can go unnoticed before its mapping here is dropped.</summary>
    public static TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Records a segment this process created, so that a descriptor of it arriving here maps nothing new.</summary>
    public static void RegisterCreated(SharedSegment segment)
    {
        lock (s_gate)
        {
            s_created[(segment.Identity.Device, segment.Identity.Inode)] = new WeakReference<SharedSegment>(segment);
        }
    }

    public static void UnregisterCreated(SharedSegment segment)
    {
        lock (s_gate)
        {
            s_created.Remove((segment.Identity.Device, segment.Identity.Inode));
        }
    }

    /// <summary>The segment a descriptor names, mapped once per process.</summary>
    public static SharedSegment Attach(in SegmentDescriptor descriptor, string what)
    {
        var key = (descriptor.Device, descriptor.Inode, descriptor.Writable);
        lock (s_gate)
        {
            if (s_created.TryGetValue((descriptor.Device, descriptor.Inode), out WeakReference<SharedSegment>? weak)
                && weak.TryGetTarget(out SharedSegment? own) && !own.IsDisposed)
            {
                return own;
            }
            if (s_attached.TryGetValue(key, out Entry? entry) && !entry.Segment.IsDisposed)
            {
                return entry.Segment;
            }
        }
        // Map outside the lock: opening another process's descriptor can take a while.
        SharedSegment segment = SharedSegment.Open(descriptor, what);
        lock (s_gate)
        {
            if (s_attached.TryGetValue(key, out Entry? raced) && !raced.Segment.IsDisposed)
            {
                segment.Dispose();
                return raced.Segment;
            }
            s_attached[key] = new Entry(segment, descriptor.ProcPath);
            s_sweeper ??= new Timer(static _ => Sweep(), null, SweepInterval, SweepInterval);
            return segment;
        }
    }

    /// <summary>How many segments are attached (for tests and diagnostics).</summary>
    public static int Count
    {
        get
        {
            lock (s_gate)
            {
                return s_attached.Count;
            }
        }
    }

    /// <summary>Drops attachments whose owner no longer holds the segment.</summary>
    public static int Sweep()
    {
        int dropped = DropReleased();
        if (dropped > 0 && CollectAfterSweep)
        {
            // Objects that used the dropped segments are garbage once their tasks ended; collecting
            // now runs the mappings' finalizers, so the worker stops holding the owner's memory.
            // (Called here, not in DropReleased, whose locals would still reference the entries.)
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        return dropped;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static int DropReleased()
    {
        List<KeyValuePair<(ulong Device, ulong Inode, bool Writable), Entry>> entries;
        lock (s_gate)
        {
            entries = [.. s_attached];
        }
        int dropped = 0;
        foreach ((var key, Entry entry) in entries)
        {
            FileIdentity? now = Libc.TryIdentify(entry.OwnerPath);
            if (now is { } identity && identity.Device == key.Device && identity.Inode == key.Inode)
            {
                continue;
            }
            lock (s_gate)
            {
                if (s_attached.TryGetValue(key, out Entry? current) && ReferenceEquals(current, entry))
                {
                    s_attached.Remove(key);
                    dropped++;
                }
            }
        }
        lock (s_gate)
        {
            if (s_attached.Count == 0 && s_sweeper is not null)
            {
                s_sweeper.Dispose();
                s_sweeper = null;
            }
        }
        return dropped;
    }

    private sealed record Entry(SharedSegment Segment, string OwnerPath);
}
