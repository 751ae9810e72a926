namespace Multiprocessing.Channels;

/// <summary>A channel this process writes to, as <see cref="WriterRetirement"/> sees it.</summary>
internal interface IRetiringWriter
{
    /// <summary>Whether the channel is still open here; a closed one needs no retiring.</summary>
    bool IsOpen { get; }

    /// <summary>Stops counting this process as the channel's writer (see <see cref="ChannelRing.RetireWriter"/>).</summary>
    void RetireWriter();
}

/// <summary>
/// The channels this process writes to, retired as writers when it ends normally, so that readers
/// elsewhere do not take a finished writer's exit for a crash (see <see cref="ChannelRing.RetireWriter"/>).
/// A process that is killed never gets here, which is the point: its writer registration stays, and
/// readers of an empty channel whose writers are all gone that way complete it with an error.
/// </summary>
/// <remarks>
/// One entry per channel, keyed by where its ring is mapped: a pool worker that receives the same
/// channel in a million tasks holds one entry, not a million, and an entry goes once its channel is
/// closed. The entry keeps the latest object over the ring (and so its mapping) alive until then.
/// </remarks>
internal static class WriterRetirement
{
    private static readonly Lock s_gate = new();
    private static readonly Dictionary<nint, IRetiringWriter> s_writers = [];
    private static int s_pruneAt = 16;
    private static bool s_hooked;

    public static void Add(nint ring, IRetiringWriter writer)
    {
        lock (s_gate)
        {
            s_writers[ring] = writer;
            if (s_writers.Count >= s_pruneAt)
            {
                foreach (nint closed in s_writers.Where(w => !w.Value.IsOpen).Select(w => w.Key).ToArray())
                {
                    s_writers.Remove(closed);
                }
                s_pruneAt = Math.Max(16, s_writers.Count * 2);
            }
            if (!s_hooked)
            {
                s_hooked = true;
                Interop.ProcessExitHooks.Add(RetireAll);
            }
        }
    }

    public static void Remove(nint ring, IRetiringWriter writer)
    {
        lock (s_gate)
        {
            if (s_writers.TryGetValue(ring, out IRetiringWriter? known) && known == writer)
            {
                s_writers.Remove(ring);
            }
        }
    }

    /// <summary>Retires every writer of this process; for a normal exit (ProcessExit, or a worker told to stop, which skips it).</summary>
    public static void RetireAll()
    {
        IRetiringWriter[] writers;
        lock (s_gate)
        {
            writers = [.. s_writers.Values];
            s_writers.Clear();
        }
        foreach (IRetiringWriter writer in writers)
        {
            writer.RetireWriter();
        }
    }
}
