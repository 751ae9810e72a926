using System.Runtime.InteropServices;

namespace Multiprocessing.Interop;

internal static partial class Libc
{
    public const int SIGKILL = 9;

    [LibraryImport(LibraryName, EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserIdNative();

    /// <summary>The effective user id of this process: shared objects are shared only with processes of the same user.</summary>
    public static uint EffectiveUserId => GetEffectiveUserIdNative();

    [LibraryImport(LibraryName, EntryPoint = "kill", SetLastError = true)]
    private static partial int KillNative(int pid, int signal);

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; false when the process no longer exists.</summary>
    public static bool Kill(int pid, int signal)
    {
        if (KillNative(pid, signal) == 0)
        {
            return true;
        }
        if (Marshal.GetLastPInvokeError() == Errno.ESRCH)
        {
            return false;
        }
        throw ErrorFor("kill", $"process {pid}");
    }

    /// <summary>
    /// Ends this process at once, without running finalizers, ProcessExit handlers or
    /// user threads. A worker whose parent is gone has nobody to report to, and a user
    /// thread stuck in a task must not keep it alive.
    /// </summary>
    [LibraryImport(LibraryName, EntryPoint = "_exit")]
    public static partial void ExitImmediately(int status);

    [LibraryImport(LibraryName, EntryPoint = "getppid")]
    public static partial int GetParentProcessId();
}

internal static partial class Libc
{
    [LibraryImport(LibraryName, EntryPoint = "getrandom", SetLastError = true)]
    private static unsafe partial nint GetRandomNative(byte* buffer, nuint length, uint flags);

    /// <summary>
    /// Fills <paramref name="buffer"/> from the kernel's random source. Used for the control channel's
    /// tokens instead of RandomNumberGenerator, whose first use loads OpenSSL and costs tens of
    /// milliseconds of pool start-up.
    /// </summary>
    public static unsafe void GetRandomBytes(Span<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            int filled = 0;
            while (filled < buffer.Length)
            {
                nint n = GetRandomNative(start + filled, (nuint)(buffer.Length - filled), 0);
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == Errno.EINTR)
                    {
                        continue;
                    }
                    throw ErrorFor("getrandom");
                }
                filled += (int)n;
            }
        }
    }
}

internal static partial class Libc
{
    /// <summary>What <c>/proc/PID/stat</c> says about a process: whether it still runs, and when it started.</summary>
    /// <param name="Exists">False when there is no such process (or only a zombie waiting to be reaped: it runs no code).</param>
    /// <param name="StartTicks">Field 22, <c>starttime</c>: clock ticks after boot. Together with the pid it names one process for the life of the machine.</param>
    public readonly record struct ProcessStatus(bool Exists, ulong StartTicks);

    /// <summary>Reads <paramref name="pid"/>'s state and start time from <c>/proc/PID/stat</c> (parsed by <see cref="ProcFs"/>).</summary>
    public static ProcessStatus ReadProcessStatus(int pid) =>
        ProcFs.TryReadStat(pid, out ProcFs.ProcessStat stat) && stat.IsRunning ? new ProcessStatus(true, stat.StartTicks) : new ProcessStatus(false, 0);
}
