namespace Multiprocessing.Interop;

/// <summary>
/// Work that must run when this process ends normally: through the runtime (<c>ProcessExit</c>), or
/// through a pool worker's own <c>_exit</c> once its pool told it to stop, which skips
/// <c>ProcessExit</c>. Higher layers register here (a channel retires this process's writers), so
/// the code that ends a worker needs to know none of them.
/// </summary>
internal static class ProcessExitHooks
{
    private static readonly Lock s_gate = new();
    private static readonly List<Action> s_hooks = [];
    private static bool s_subscribed;
    private static bool s_ran;

    /// <summary>Runs <paramref name="hook"/> once when this process ends normally.</summary>
    public static void Add(Action hook)
    {
        lock (s_gate)
        {
            s_hooks.Add(hook);
            if (!s_subscribed)
            {
                s_subscribed = true;
                AppDomain.CurrentDomain.ProcessExit += static (_, _) => RunAll();
            }
        }
    }

    /// <summary>Runs every hook, once; later calls do nothing. A hook that throws does not stop the others.</summary>
    public static void RunAll()
    {
        Action[] hooks;
        lock (s_gate)
        {
            if (s_ran)
            {
                return;
            }
            s_ran = true;
            hooks = [.. s_hooks];
        }
        foreach (Action hook in hooks)
        {
            try
            {
                hook();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The process is ending; one failed clean-up must not skip the rest.
            }
        }
    }

    /// <summary>Runs the hooks, then ends the process at once with <paramref name="status"/> (see <see cref="Libc.ExitImmediately"/>).</summary>
    public static void ExitNormally(int status)
    {
        RunAll();
        Libc.ExitImmediately(status);
    }
}
