using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Multiprocessing.Interop;

internal static partial class Libc
{
    private const uint MFD_CLOEXEC = 0x0001;
    internal const int PROT_READ = 0x1;
    internal const int PROT_WRITE = 0x2;
    private const int MAP_SHARED = 0x01;
    private const int MAP_PRIVATE = 0x02;
    private const int MAP_FIXED = 0x10;
    private const int MAP_ANONYMOUS = 0x20;
    private const int MAP_NORESERVE = 0x4000;
    private const int O_RDWR = 0x0002;
    private const int O_RDONLY = 0x0000;
    private const int O_CLOEXEC = 0x80000;

    [LibraryImport(LibraryName, EntryPoint = "memfd_create", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int MemfdCreateNative(string name, uint flags);

    [LibraryImport(LibraryName, EntryPoint = "fchmod", SetLastError = true)]
    private static partial int FChmodNative(SafeFileHandle fd, uint mode);

    [LibraryImport(LibraryName, EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int FTruncateNative(SafeFileHandle fd, long length);

    [LibraryImport(LibraryName, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int OpenNative(string path, int flags, int mode);

    [LibraryImport(LibraryName, EntryPoint = "mmap", SetLastError = true)]
    private static partial nint MMapNative(nint address, nuint length, int protection, int flags, SafeFileHandle fd, long offset);

    [LibraryImport(LibraryName, EntryPoint = "mmap", SetLastError = true)]
    private static partial nint MMapAnonymousNative(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport(LibraryName, EntryPoint = "munmap", SetLastError = true)]
    internal static partial int MUnmap(nint address, nuint length);

    [LibraryImport(LibraryName, EntryPoint = "malloc_trim")]
    private static partial int MallocTrimNative(nuint pad);

    [LibraryImport(LibraryName, EntryPoint = "fallocate", SetLastError = true)]
    private static partial int FAllocateNative(SafeFileHandle fd, int mode, long offset, long length);

    [LibraryImport(LibraryName, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int StatxNative(int directoryFd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport(LibraryName, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int StatxNative(SafeFileHandle fd, string path, int flags, uint mask, byte* buffer);

    private const int AT_FDCWD = -100;
    private const int AT_EMPTY_PATH = 0x1000;
    private const uint STATX_INO = 0x100;
    private const uint STATX_SIZE = 0x200;
    private const int O_CREAT = 0x40;
    private const int O_EXCL = 0x80;
    private const int O_TRUNC = 0x200;

    // O_NOFOLLOW is one of the few open flags whose value differs by architecture.
    private static readonly int O_NOFOLLOW = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;

    /// <summary>
    /// Gives the C heap's free pages back to the kernel (glibc's <c>malloc_trim(0)</c>): the runtime's
    /// native allocations (the JIT's scratch memory, among others) are freed into glibc's arenas, which
    /// keep them mapped. False where the C library has no such call (musl): nothing is given back there.
    /// </summary>
    public static bool TryTrimNativeHeap()
    {
        try
        {
            MallocTrimNative(0);
            return true;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

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
        // A memory file is born 0777; reaching it through /proc/PID/fd already needs the owner's
        // rights, but owner-only permissions say so plainly and survive a descriptor passed on.
        if (FChmodNative(handle, 0b110_000_000) != 0)
        {
            Exception error = ErrorFor("fchmod", debugName);
            handle.Dispose();
            throw error;
        }
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

    /// <summary>
    /// Creates (or replaces) a regular file for a file-backed segment, readable and writable by its
    /// owner only; <see cref="Truncate"/> then sizes it. A symbolic link at <paramref name="path"/>
    /// is never followed (the call fails with ELOOP, or EEXIST for a new file): in a shared directory
    /// such as /tmp another user may plant one, and following it would truncate its target.
    /// </summary>
    public static SafeFileHandle CreateFile(string path, bool overwrite)
    {
        int flags = O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (overwrite ? O_TRUNC : O_EXCL);
        int fd = OpenNative(path, flags, 0b110_000_000);
        if (fd < 0)
        {
            throw ErrorFor("open", path);
        }
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Sets the size of a file without writing it (the new bytes read as zero).</summary>
    public static void Truncate(SafeFileHandle fd, long length, string what)
    {
        if (FTruncateNative(fd, length) != 0)
        {
            throw ErrorFor("ftruncate", what);
        }
    }

    /// <summary>
    /// Reserves <paramref name="length"/> bytes of storage for a file, so that writing through a
    /// mapping later cannot fail with SIGBUS for want of space. Returns false when the file system
    /// cannot reserve space (it then stays sparse); throws when there is not enough space.
    /// </summary>
    public static bool TryReserve(SafeFileHandle fd, long length, string what)
    {
        if (FAllocateNative(fd, 0, 0, length) == 0)
        {
            return true;
        }
        int errno = Marshal.GetLastPInvokeError();
        if (errno is Errno.EOPNOTSUPP or Errno.ENOSYS)
        {
            return false;
        }
        throw ErrorFor("fallocate", what);
    }

    /// <summary>The identity and size of an open file: device and inode name the same file in every process.</summary>
    public static unsafe FileIdentity Identify(SafeFileHandle fd)
    {
        byte* buffer = stackalloc byte[256];
        if (StatxNative(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_SIZE, buffer) != 0)
        {
            throw ErrorFor("statx");
        }
        return ReadIdentity(buffer);
    }

    /// <summary>The identity of the file a path names (following links such as <c>/proc/PID/fd/N</c>), or null if it does not exist.</summary>
    public static unsafe FileIdentity? TryIdentify(string path)
    {
        byte* buffer = stackalloc byte[256];
        if (StatxNative(AT_FDCWD, path, 0, STATX_INO | STATX_SIZE, buffer) != 0)
        {
            return null;
        }
        return ReadIdentity(buffer);
    }

    private static unsafe FileIdentity ReadIdentity(byte* statx)
    {
        // struct statx has the same layout on every architecture: stx_ino at 32, stx_size at 40,
        // stx_dev_major at 136 and stx_dev_minor at 140.
        ulong inode = *(ulong*)(statx + 32);
        long size = *(long*)(statx + 40);
        ulong device = ((ulong)*(uint*)(statx + 136) << 32) | *(uint*)(statx + 140);
        return new FileIdentity(device, inode, size);
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

    /// <summary>Maps private, unreserved zero pages over <paramref name="length"/> bytes at <paramref name="address"/>, replacing what was mapped there.</summary>
    internal static bool MapPlaceholder(nint address, long length, int protection) =>
        MMapAnonymousNative(address, (nuint)length, protection, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == address;
}

/// <summary>Names one file across processes (device and inode), with its size when it was looked at.</summary>
internal readonly record struct FileIdentity(ulong Device, ulong Inode, long Size);

/// <summary>A mapping made by <see cref="Libc.MapShared"/>; unmapped when released.</summary>
/// <remarks>
/// A shared object does not release its mapping on Dispose (see <see cref="Retire"/>): threads may
/// be between their disposed check and their access. The range is unmapped by this handle's
/// finalizer, once nothing that could reach it (the objects over it, their memory managers) is
/// reachable, and so once no thread can be inside an access.
/// </remarks>
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

    /// <summary>
    /// Lets go of the shared pages at once while keeping the address range valid: replaces the mapping,
    /// in one atomic mmap, by private zero pages that cost nothing until written (MAP_NORESERVE, so no
    /// commit charge either). A thread that raced past a disposed check reads zeros or writes into
    /// pages nobody sees, instead of faulting on an unmapped address and taking the process down.
    /// The range itself is unmapped when this handle is released. False (the shared mapping stays
    /// until then) if the kernel refuses, as strict overcommit may for a large writable range.
    /// </summary>
    public bool Retire(bool writable)
    {
        int protection = writable ? Libc.PROT_READ | Libc.PROT_WRITE : Libc.PROT_READ;
        return Libc.MapPlaceholder(handle, Length, protection);
    }

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
