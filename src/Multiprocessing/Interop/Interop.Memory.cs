using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Multiprocessing.Interop;

internal static partial class Libc
{
    private const uint MFD_CLOEXEC = 0x0001;
    private const int PROT_READ = 0x1;
    private const int PROT_WRITE = 0x2;
    private const int MAP_SHARED = 0x01;
    private const int O_RDWR = 0x0002;
    private const int O_RDONLY = 0x0000;
    private const int O_CLOEXEC = 0x80000;

    [LibraryImport(LibraryName, EntryPoint = "memfd_create", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int MemfdCreateNative(string name, uint flags);

    [LibraryImport(LibraryName, EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int FTruncateNative(SafeFileHandle fd, long length);

    [LibraryImport(LibraryName, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int OpenNative(string path, int flags, int mode);

    [LibraryImport(LibraryName, EntryPoint = "mmap", SetLastError = true)]
    private static partial nint MMapNative(nint address, nuint length, int protection, int flags, SafeFileHandle fd, long offset);

    [LibraryImport(LibraryName, EntryPoint = "munmap", SetLastError = true)]
    internal static partial int MUnmap(nint address, nuint length);

    /// <summary>
    /// Creates an anonymous memory file of <paramref name="length"/> bytes. It has no name in any
    /// file system, so it disappears with the last descriptor or mapping, even after SIGKILL.
    /// </summary>
    public static SafeFileHandle CreateMemoryFile(string debugName, long length)
    {
        int fd = MemfdCreateNative(debugName, MFD_CLOEXEC);
        if (fd < 0)
        {
            throw ErrorFor("memfd_create", debugName);
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (FTruncateNative(handle, length) != 0)
        {
            Exception error = ErrorFor("ftruncate", $"{length:N0} bytes");
            handle.Dispose();
            throw error;
        }
        return handle;
    }

    /// <summary>Opens a file (or a <c>/proc/PID/fd/N</c> link to another process's memory file).</summary>
    public static SafeFileHandle Open(string path, bool writable)
    {
        int fd = OpenNative(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw ErrorFor("open", path);
        }
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Maps <paramref name="length"/> bytes of <paramref name="fd"/> shared with every other process that maps it.</summary>
    public static SafeMappedRegion MapShared(SafeFileHandle fd, long length, bool writable)
    {
        int protection = writable ? PROT_READ | PROT_WRITE : PROT_READ;
        nint address = MMapNative(0, (nuint)length, protection, MAP_SHARED, fd, 0);
        if (address == -1)
        {
            throw ErrorFor("mmap", $"{length:N0} bytes");
        }
        return new SafeMappedRegion(address, length);
    }
}

/// <summary>A mapping made by <see cref="Libc.MapShared"/>; unmapped when released.</summary>
internal sealed class SafeMappedRegion : SafeHandleZeroOrMinusOneIsInvalid
{
    public SafeMappedRegion(nint address, long length) : base(ownsHandle: true)
    {
        SetHandle(address);
        Length = length;
    }

    /// <summary>Length of the mapping in bytes.</summary>
    public long Length { get; }

    /// <summary>Start of the mapping. Valid while the handle is alive.</summary>
    public unsafe byte* Pointer => (byte*)handle;

    protected override bool ReleaseHandle() => Libc.MUnmap(handle, (nuint)Length) == 0;
}

internal static partial class Libc
{
    /// <summary>
    /// The path through which another process of the same user opens this process's descriptor
    /// <paramref name="fd"/>: <c>/proc/PID/fd/N</c>. Opening it reopens the same memory file, which is
    /// how an anonymous memfd reaches a worker without ever having a name in a file system.
    /// </summary>
    public static string ProcFdPath(SafeFileHandle fd) => $"/proc/{Environment.ProcessId}/fd/{(int)fd.DangerousGetHandle()}";
}
