using System.Runtime.InteropServices;

namespace Multiprocessing.Interop;

internal static partial class Libc
{
    public const int SIGKILL = 9;

    [LibraryImport(LibraryName, EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserIdNative();

    /// <summary>The effective user id of this process: shared objects are shared only with processes of the same user.</summary>
    public static uint EffectiveUserId => GetEffectiveUserIdNative();

    [LibraryImport(LibraryName, EntryPoint = "execve", SetLastError = true)]
    private static unsafe partial int ExecveNative(byte* path, byte** argv, byte** envp);

    /// <summary>
    /// Replaces this process's program with a fresh start of the same executable
    /// (<c>/proc/self/exe</c>): same process id, same open standard streams, <paramref name="arguments"/>
    /// (the first is the program's name) and exactly <paramref name="environment"/> ("NAME=value").
    /// Returns only if the kernel refused, by throwing.
    /// </summary>
    /// <exception cref="IOException">execve failed (the errno is in the message).</exception>
    public static unsafe void ExecSelf(IReadOnlyList<string> arguments, IReadOnlyList<string> environment)
    {
        byte** argv = NullTerminatedUtf8(arguments);
        byte** envp = NullTerminatedUtf8(environment);
        try
        {
            fixed (byte* path = "/proc/self/exe\0"u8)
            {
                ExecveNative(path, argv, envp);
            }
            throw ErrorFor("execve", "/proc/self/exe");
        }
        finally
        {
            NativeMemory.Free(argv);
            NativeMemory.Free(envp);
        }
    }

    /// <summary>A null-terminated array of NUL-terminated UTF-8 copies of <paramref name="strings"/>, in one block freed with <see cref="NativeMemory.Free(void*)"/> (argv and envp for exec and spawn).</summary>
    private static unsafe byte** NullTerminatedUtf8(IReadOnlyList<string> strings)
    {
        int pointers = (strings.Count + 1) * sizeof(byte*);
        int total = pointers;
        foreach (string s in strings)
        {
            total += System.Text.Encoding.UTF8.GetByteCount(s) + 1;
        }
        byte** array = (byte**)NativeMemory.Alloc((nuint)total);
        byte* next = (byte*)array + pointers;
        for (int i = 0; i < strings.Count; i++)
        {
            array[i] = next;
            int length = System.Text.Encoding.UTF8.GetBytes(strings[i], new Span<byte>(next, total - (int)(next - (byte*)array)));
            next[length] = 0;
            next += length + 1;
        }
        array[strings.Count] = null;
        return array;
    }

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
