using System.Runtime.InteropServices;

namespace Multiprocessing.Interop;

internal static partial class Libc
{
    public const int SIGKILL = 9;

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
