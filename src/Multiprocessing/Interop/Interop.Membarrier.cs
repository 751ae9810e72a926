using System.Runtime.InteropServices;

namespace Multiprocessing.Interop;

/// <summary>
/// membarrier(2): a memory barrier run on other threads' CPUs on request, so that a rare path can
/// pay for the ordering a frequent path would otherwise pay for with a fence every time.
/// </summary>
internal static partial class Libc
{
    private static readonly nint SYS_membarrier = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 324,
        Architecture.Arm64 => 283,
        _ => 0,
    };

    private const int MEMBARRIER_CMD_QUERY = 0;
    private const int MEMBARRIER_CMD_GLOBAL = 1 << 0;
    private const int MEMBARRIER_CMD_GLOBAL_EXPEDITED = 1 << 1;
    private const int MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED = 1 << 2;

    /// <summary>Whether the kernel offers the expedited global barrier at all (to any process it lets make the call).</summary>
    public static bool MembarrierHasGlobalExpedited()
    {
        if (SYS_membarrier == 0)
        {
            return false;
        }
        nint supported = Syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0, 0, 0, 0);
        const int needed = MEMBARRIER_CMD_GLOBAL_EXPEDITED | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED;
        return supported > 0 && (supported & needed) == needed;
    }

    /// <summary>
    /// Registers this process for <see cref="MembarrierGlobalExpedited"/>: from now on every such call,
    /// made by any process, runs a barrier on the CPUs that run this process's threads. False if
    /// the call failed (an old kernel, or a seccomp filter).
    /// </summary>
    public static bool MembarrierRegisterGlobalExpedited() =>
        SYS_membarrier != 0 && Syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0, 0, 0, 0) == 0;

    /// <summary>
    /// Runs a full memory barrier on every CPU that runs a thread of a registered process (a thread
    /// not running is already in that state), and returns once they have. False if the call failed.
    /// </summary>
    public static bool MembarrierGlobalExpedited() => SYS_membarrier != 0 && Syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0, 0, 0, 0) == 0;

    /// <summary>
    /// The slow form that needs no registration: returns once every thread of every process has
    /// passed a barrier (an RCU grace period, milliseconds). False if the call failed.
    /// </summary>
    public static bool MembarrierGlobal() => SYS_membarrier != 0 && Syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0, 0, 0, 0) == 0;
}
