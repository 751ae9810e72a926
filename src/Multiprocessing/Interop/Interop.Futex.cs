using System.Runtime.InteropServices;

namespace Multiprocessing.Interop;

/// <summary>
/// Futex calls on 32-bit words in shared mappings. None of them uses FUTEX_PRIVATE_FLAG for the
/// shared words: the kernel must key the word by the file and offset behind the mapping, not by
/// this process's address, so that waiters and wakers in different processes meet.
/// </summary>
internal static unsafe partial class Libc
{
    // Syscall numbers differ between architectures: x86-64 has its own table, arm64 uses the
    // generic one. A number from the wrong table would silently make another call, so on any other
    // architecture every futex call throws PlatformNotSupportedException instead. futex_waitv came
    // late enough (5.16) to have one number everywhere. (A static readonly read is a constant to
    // the JIT, so the check costs nothing on the hot path.)
    private static readonly nint SYS_futex = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 202,
        Architecture.Arm64 => 98,
        _ => 0,
    };

    /// <summary>The futex system call number of this architecture.</summary>
    /// <exception cref="PlatformNotSupportedException">An architecture whose number is not known here.</exception>
    private static nint FutexCall => SYS_futex != 0 ? SYS_futex : throw new PlatformNotSupportedException(
        $"Multiprocessing for .NET knows the futex system call numbers of x64 and arm64 Linux; this process runs on {RuntimeInformation.ProcessArchitecture}. " +
        "Add the architecture's number to Interop/Interop.Futex.cs (from the kernel's syscall table) to run here.");

    private const nint SYS_futex_waitv = 449;

    /// <summary>futex_waitv's number, refused where <see cref="FutexCall"/> is.</summary>
    private static nint FutexWaitvCall => SYS_futex != 0 ? SYS_futex_waitv : FutexCall;

    private const int FUTEX_WAIT = 0;
    private const int FUTEX_WAKE = 1;
    private const int FUTEX_PRIVATE_FLAG = 128;
    private const uint FUTEX2_SIZE_U32 = 0x02;
    private const uint FUTEX2_PRIVATE = 128;
    private const int CLOCK_MONOTONIC = 1;

    /// <summary>The most words one futex_waitv call takes (the kernel's FUTEX_WAITV_MAX).</summary>
    public const int FutexWaitvMax = 128;

    [LibraryImport(LibraryName, EntryPoint = "syscall", SetLastError = true)]
    private static partial nint Syscall(nint number, nint a1, nint a2, nint a3, nint a4, nint a5, nint a6);

    /// <summary>How a futex wait ended.</summary>
    public enum FutexWaitResult
    {
        /// <summary>Woken by FUTEX_WAKE (or spuriously): look at the word again.</summary>
        Woken,

        /// <summary>The word did not hold the expected value when the call began.</summary>
        ValueChanged,

        /// <summary>The time-out elapsed.</summary>
        TimedOut,

        /// <summary>A signal interrupted the wait.</summary>
        Interrupted,
    }

    /// <summary>
    /// Sleeps while <paramref name="word"/> holds <paramref name="expected"/>, for at most
    /// <paramref name="timeout"/>. The kernel checks the value and queues the caller atomically, so
    /// a wake between the caller's last look and this call is not lost.
    /// </summary>
    public static FutexWaitResult FutexSleep(int* word, int expected, TimeSpan timeout, bool processPrivate = false)
    {
        long ticks = Math.Max(0, timeout.Ticks);
        TimeSpec relative = new() { Seconds = ticks / TimeSpan.TicksPerSecond, Nanoseconds = ticks % TimeSpan.TicksPerSecond * 100 };
        nint result = Syscall(FutexCall, (nint)word, FUTEX_WAIT | (processPrivate ? FUTEX_PRIVATE_FLAG : 0), expected, (nint)(&relative), 0, 0);
        return result == 0 ? FutexWaitResult.Woken : WaitError("futex(FUTEX_WAIT)");
    }

    /// <summary>
    /// Sleeps while <paramref name="word"/> holds <paramref name="expected"/>, with no time-out. Arming
    /// a kernel timer for every sleep costs about a microsecond per wait on these machines, which the
    /// contended hand-off feels; untimed sleepers are woken periodically by a ticker thread instead.
    /// </summary>
    public static FutexWaitResult FutexSleep(int* word, int expected)
    {
        nint result = Syscall(FutexCall, (nint)word, FUTEX_WAIT, expected, 0, 0, 0);
        return result == 0 ? FutexWaitResult.Woken : WaitError("futex(FUTEX_WAIT)");
    }

    /// <summary>Wakes every waiter on <paramref name="word"/>, ignoring errors: the word may have been unmapped meanwhile (EFAULT), which is harmless.</summary>
    public static void FutexWakeAllQuietly(int* word) => Syscall(FutexCall, (nint)word, FUTEX_WAKE, int.MaxValue, 0, 0, 0);

    /// <summary>Wakes up to <paramref name="count"/> waiters on <paramref name="word"/>; returns how many it woke.</summary>
    public static int FutexWake(int* word, int count, bool processPrivate = false)
    {
        nint result = Syscall(FutexCall, (nint)word, FUTEX_WAKE | (processPrivate ? FUTEX_PRIVATE_FLAG : 0), count, 0, 0, 0);
        if (result < 0)
        {
            // EFAULT cannot happen on a mapped word; anything else is a bug worth seeing.
            throw ErrorFor("futex(FUTEX_WAKE)");
        }
        return (int)result;
    }

    /// <summary>One entry of a futex_waitv call: the layout of the kernel's <c>struct futex_waitv</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct FutexWaitv
    {
        public ulong Value;
        public ulong Address;
        public uint Flags;
        private readonly uint _reserved;

        /// <summary>An entry that sleeps while the 32-bit <paramref name="word"/> holds <paramref name="expected"/>.</summary>
        public static FutexWaitv For(int* word, int expected, bool processPrivate) => new()
        {
            Value = (uint)expected,
            Address = (ulong)word,
            Flags = FUTEX2_SIZE_U32 | (processPrivate ? FUTEX2_PRIVATE : 0),
        };
    }

    /// <summary>
    /// Sleeps until any of <paramref name="count"/> words is woken, or <paramref name="deadline"/>
    /// (CLOCK_MONOTONIC, see <see cref="MonotonicNow"/>) passes. Linux 5.16 and later; returns null
    /// when the kernel lacks the call, so the caller can fall back to polling.
    /// </summary>
    /// <returns>The outcome, and for <see cref="FutexWaitResult.Woken"/> the index of the woken word in <paramref name="index"/>.</returns>
    public static FutexWaitResult? FutexWaitMany(FutexWaitv* entries, int count, TimeSpan deadline, out int index)
    {
        long ticks = Math.Max(0, deadline.Ticks);
        TimeSpec absolute = new() { Seconds = ticks / TimeSpan.TicksPerSecond, Nanoseconds = ticks % TimeSpan.TicksPerSecond * 100 };
        nint result = Syscall(FutexWaitvCall, (nint)entries, count, 0, (nint)(&absolute), CLOCK_MONOTONIC, 0);
        if (result >= 0)
        {
            index = (int)result;
            return FutexWaitResult.Woken;
        }
        index = -1;
        if (Marshal.GetLastPInvokeError() == Errno.ENOSYS)
        {
            return null;
        }
        return WaitError("futex_waitv");
    }

    /// <summary>The CLOCK_MONOTONIC time that futex_waitv deadlines are measured on.</summary>
    public static TimeSpan MonotonicNow()
    {
        TimeSpec now;
        if (ClockGetTime(CLOCK_MONOTONIC, &now) != 0)
        {
            throw ErrorFor("clock_gettime");
        }
        return TimeSpan.FromTicks(now.Seconds * TimeSpan.TicksPerSecond + now.Nanoseconds / 100);
    }

    [LibraryImport(LibraryName, EntryPoint = "clock_gettime", SetLastError = true)]
    private static partial int ClockGetTime(int clock, TimeSpec* time);

    private static FutexWaitResult WaitError(string call) => Marshal.GetLastPInvokeError() switch
    {
        Errno.EAGAIN => FutexWaitResult.ValueChanged,
        Errno.ETIMEDOUT => FutexWaitResult.TimedOut,
        Errno.EINTR => FutexWaitResult.Interrupted,
        _ => throw ErrorFor(call),
    };

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
