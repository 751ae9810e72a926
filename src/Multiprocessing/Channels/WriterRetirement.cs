namespace Multiprocessing.Channels;

/// <summary>
/// The channels this process writes to, retired as writers when it ends normally, so that readers
/// elsewhere do not take a finished writer's exit for a crash (see <see cref="ChannelRing.RetireWriter"/>).
/// A process that is killed never gets here, which is the point: its writer registration stays, and
/// readers of an empty channel whose writers are all gone that way complete it with an error.
/// </summary>
internal static class WriterRetirement
{
    private static readonly Lock s_gate = new();
    private static readonly List<Action> s_writers = [];
    private static bool s_hooked;

    public static void Add(Action retire)
    {
        lock (s_gate)
        {
            s_writers.Add(retire);
            if (!s_hooked)
            {
                s_hooked = true;
                AppDomain.CurrentDomain.ProcessExit += static (_, _) => RetireAll();
            }
        }
    }

    public static void Remove(Action retire)
    {
        lock (s_gate)
        {
            s_writers.Remove(retire);
        }
    }

    /// <summary>Retires every writer of this process; for a normal exit (ProcessExit, or a worker told to stop, which skips it).</summary>
    public static void RetireAll()
    {
        Action[] writers;
        lock (s_gate)
        {
            writers = [.. s_writers];
            s_writers.Clear();
        }
        foreach (Action retire in writers)
        {
            retire();
        }
    }
}
