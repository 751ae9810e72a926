using Multiprocessing.Interop;

namespace Multiprocessing.Synchronization;

/// <summary>
/// Names a process for the life of the machine, so that a lock can tell whether its owner still
/// runs. A pid alone is not enough: pids are reused, and a new process that happens to get a dead
/// owner's pid would keep the lock "held" forever. So an identity is the pid (low 32 bits, which
/// is also what the lock's futex word compares) and the low 32 bits of the process's start time
/// in clock ticks after boot (high 32 bits, from <c>/proc/PID/stat</c>). A recycled pid has a
/// different start time; two processes would need the same pid and the same start tick (modulo
/// 2^32 ticks, about 497 days at 100 Hz) to be confused.
/// </summary>
/// <remarks>
/// Processes are compared within one pid namespace: processes in different pid namespaces (two
/// containers sharing memory) must not share a lock.
/// </remarks>
internal static class ProcessIdentity
{
    /// <summary>This process's identity; never zero (a pid is never zero).</summary>
    public static long Current { get; } = Of(Environment.ProcessId, Libc.ReadProcessStatus(Environment.ProcessId).StartTicks);

    /// <summary>The identity of process <paramref name="pid"/> that started at <paramref name="startTicks"/>.</summary>
    public static long Of(int pid, ulong startTicks) => (long)(((ulong)(uint)startTicks << 32) | (uint)pid);

    /// <summary>The pid inside an identity.</summary>
    public static int Pid(long identity) => (int)(uint)identity;

    /// <summary>
    /// Whether the process named by <paramref name="identity"/> is still running. A zombie (killed,
    /// not yet reaped by its parent) counts as dead: it runs no code and will never release anything.
    /// </summary>
    public static bool IsAlive(long identity)
    {
        if (identity == Current)
        {
            return true;
        }
        int pid = Pid(identity);
        if (pid == Environment.ProcessId)
        {
            // Our own pid with another start time: a previous process with this pid died holding it.
            return false;
        }
        Libc.ProcessStatus status = Libc.ReadProcessStatus(pid);
        return status.Exists && (uint)status.StartTicks == (uint)((ulong)identity >> 32);
    }
}
