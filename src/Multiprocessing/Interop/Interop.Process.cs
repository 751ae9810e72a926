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

    /// <summary>Reads <paramref name="pid"/>'s state and start time from <c>/proc/PID/stat</c>.</summary>
    public static ProcessStatus ReadProcessStatus(int pid)
    {
        byte[] stat;
        try
        {
            stat = File.ReadAllBytes($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException)
        {
            // Gone, or going (ESRCH while the process is torn down): either way it holds nothing.
            return new ProcessStatus(false, 0);
        }
        // "pid (comm) state ppid ... starttime ...": comm may hold spaces and parentheses, so the
        // fields are counted from the last ')'. State is field 3, starttime field 22.
        int close = Array.LastIndexOf(stat, (byte)')');
        if (close < 0 || close + 2 >= stat.Length)
        {
            return new ProcessStatus(false, 0);
        }
        ReadOnlySpan<byte> rest = stat.AsSpan(close + 2);
        byte state = rest[0];
        if (state is (byte)'Z' or (byte)'X' or (byte)'x')
        {
            return new ProcessStatus(false, 0);
        }
        int field = 3;
        while (field < 22)
        {
            int space = rest.IndexOf((byte)' ');
            if (space < 0)
            {
                return new ProcessStatus(false, 0);
            }
            rest = rest[(space + 1)..];
            field++;
        }
        int end = rest.IndexOf((byte)' ');
        ulong start = 0;
        foreach (byte digit in end < 0 ? rest : rest[..end])
        {
            if (digit is < (byte)'0' or > (byte)'9')
            {
                break;
            }
            start = start * 10 + (ulong)(digit - '0');
        }
        return new ProcessStatus(true, start);
    }
}
