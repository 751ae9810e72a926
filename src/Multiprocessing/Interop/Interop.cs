using System.ComponentModel;
using System.Runtime.InteropServices;

namespace Multiprocessing.Interop;

/// <summary>
/// Every native call the library makes. Nothing outside this folder declares a P/Invoke,
/// sees errno or holds a raw file descriptor.
/// </summary>
internal static partial class Libc
{
    private const string LibraryName = "libc";

    /// <summary>Throws unless the library runs on Linux on x64 or arm64, the only OS and architectures whose calls are implemented so far.</summary>
    public static void EnsureSupported()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException(
                "Multiprocessing for .NET needs Linux (memfd, futex and /proc). " +
                $"This process runs on {RuntimeInformation.OSDescription}.");
        }
        if (RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
        {
            throw new PlatformNotSupportedException(
                "Multiprocessing for .NET runs on x64 and arm64 Linux, whose system call numbers it knows; " +
                $"this process runs on {RuntimeInformation.ProcessArchitecture}.");
        }
    }

    /// <summary>Turns the errno of the last failed call into an exception that names the call.</summary>
    public static Exception ErrorFor(string call, string? detail = null)
    {
        int errno = Marshal.GetLastPInvokeError();
        string text = Marshal.GetPInvokeErrorMessage(errno);
        string message = detail is null ? $"{call} failed: {text} (errno {errno})." : $"{call} failed for {detail}: {text} (errno {errno}).";
        return errno switch
        {
            Errno.ENOMEM or Errno.ENOSPC => new InsufficientMemoryException(message, new Win32Exception(errno)),
            Errno.EACCES or Errno.EPERM => new UnauthorizedAccessException(message, new Win32Exception(errno)),
            Errno.ENOENT => new FileNotFoundException(message, new Win32Exception(errno)),
            _ => new IOException(message, new Win32Exception(errno)),
        };
    }

    internal static class Errno
    {
        public const int EPERM = 1;
        public const int ENOENT = 2;
        public const int ESRCH = 3;
        public const int EINTR = 4;
        public const int EAGAIN = 11;
        public const int ENOMEM = 12;
        public const int EACCES = 13;
        public const int EBADF = 9;
        public const int EEXIST = 17;
        public const int EINVAL = 22;
        public const int ENOSPC = 28;
        public const int EFAULT = 14;
        public const int ETIMEDOUT = 110;
        public const int ENOSYS = 38;
        public const int EOPNOTSUPP = 95;
    }
}
