using Microsoft.Win32.SafeHandles;
using Multiprocessing.Interop;

namespace Multiprocessing.Sharing;

/// <summary>
/// A block of memory that several processes map: the one thing every shared object stands on.
/// It is an anonymous memory file (memfd) or a regular file, held open and mapped by this process.
/// A memory file has no name in any file system, so it cannot leak: the kernel frees it when the
/// last process that maps or holds it exits, however it exits. Another process attaches through
/// <c>/proc/PID/fd/N</c> of a process that holds it (see <see cref="SegmentDescriptor"/>).
/// </summary>
internal sealed unsafe class SharedSegment : IDisposable
{
    private readonly SafeFileHandle _file;
    private readonly SafeMappedRegion _mapping;
    private NameRegistration? _name;
    private int _disposed;

    private SharedSegment(SafeFileHandle file, SafeMappedRegion mapping, long size, bool writable, FileIdentity identity, string? filePath)
    {
        _file = file;
        _mapping = mapping;
        Size = size;
        IsWritable = writable;
        Identity = identity;
        FilePath = filePath;
    }

    /// <summary>Usable bytes (the mapping may be one byte longer when <see cref="Size"/> is zero, since mmap refuses empty mappings).</summary>
    public long Size { get; }

    /// <summary>Whether this process mapped the segment writable.</summary>
    public bool IsWritable { get; }

    /// <summary>The device and inode that name the segment in every process.</summary>
    public FileIdentity Identity { get; }

    /// <summary>The file behind a file-backed segment, or null for memory.</summary>
    public string? FilePath { get; }

    /// <summary>The name other programs open the segment by, while this process holds it; null if unnamed.</summary>
    public string? Name => _name?.Name;

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>
    /// The start of the mapping. The address stays valid (readable, and writable if the segment is)
    /// for as long as this segment is reachable, even after Dispose, which only swaps the shared
    /// pages for private zero pages; so an access that checks <see cref="IsDisposed"/> after it
    /// touched the memory, and keeps its object alive until then, never faults and never returns
    /// what it read from the zero pages.
    /// </summary>
    public byte* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return _mapping.Pointer;
        }
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> at <paramref name="offset"/> through the segment's file
    /// (pwrite), not through the mapping: the kernel copies into the pages without one page fault
    /// per 4 KiB page on their first write, which on a virtual machine costs several times the copy.
    /// </summary>
    internal void WriteAt(long offset, ReadOnlySpan<byte> bytes)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (!IsWritable || offset < 0 || offset > Size - bytes.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"{bytes.Length} bytes at {offset} do not fit a writable segment of {Size} bytes.");
        }
        RandomAccess.Write(_file, bytes, offset);
    }

    /// <summary>Where another process of the same user opens this segment while this process holds it.</summary>
    public string Path => Libc.ProcFdPath(_file);

    /// <summary>What a process needs to attach to this segment.</summary>
    public SegmentDescriptor Describe(bool writable)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return new SegmentDescriptor(Environment.ProcessId, (int)_file.DangerousGetHandle(), Identity.Device, Identity.Inode, Size, writable && IsWritable);
    }

    /// <summary>Creates a segment of <paramref name="size"/> zeroed bytes in memory.</summary>
    /// <param name="size">The number of bytes.</param>
    /// <param name="debugName">Shown in <c>/proc/PID/fd</c> and <c>/proc/PID/maps</c>; has no other effect.</param>
    /// <param name="name">A name other programs may open it by, or null.</param>
    /// <param name="contents">What the segment holds, checked by programs that open it by name.</param>
    public static SharedSegment CreateMemory(long size, string debugName, string? name = null, string contents = "")
    {
        Libc.EnsureSupported();
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        MemoryBudget.EnsureAvailable(size);
        // Claim the name first: a clash must fail before any memory is committed.
        NameRegistration? registration = name is null ? null : NameRegistration.Claim(name);
        SafeFileHandle? file = null;
        try
        {
            file = Libc.CreateMemoryFile(debugName, size);
            SharedSegment segment = Map(file, size, writable: true, filePath: null);
            if (registration is not null)
            {
                segment._name = registration;
                registration.Serve(segment, contents);
            }
            return segment;
        }
        catch
        {
            file?.Dispose();
            registration?.Dispose();
            throw;
        }
    }

    /// <summary>Creates a file of <paramref name="size"/> bytes (owner-only permissions) and maps it shared.</summary>
    public static SharedSegment CreateFile(string path, long size, bool overwrite)
    {
        Libc.EnsureSupported();
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        string fullPath = System.IO.Path.GetFullPath(path);
        SafeFileHandle file;
        try
        {
            file = Libc.CreateFile(fullPath, overwrite);
        }
        catch (IOException e) when (new FileInfo(fullPath).LinkTarget is { } target)
        {
            throw new SharedMemoryException(
                $"Cannot create the shared file '{fullPath}': it is a symbolic link (to '{target}'), and links are not followed when " +
                "creating or overwriting a file (in a shared directory such as /tmp, a link planted by someone else would make this truncate " +
                "the link's target). Remove the link or choose another path; to map an existing file on purpose, use OpenFile.", e);
        }
        try
        {
            Libc.Truncate(file, size, $"{fullPath} ({Units.Bytes(size)})");
            if (size > 0 && !Libc.TryReserve(file, size, $"{fullPath} ({Units.Bytes(size)})"))
            {
                // The file system cannot reserve space (the file stays sparse), so at least refuse
                // what cannot fit now rather than fail with SIGBUS on a later write.
                long free = new DriveInfo(fullPath).AvailableFreeSpace;
                if (size > free)
                {
                    throw new SharedMemoryException(
                        $"Cannot create the {Units.Bytes(size)} file '{fullPath}': its file system has {Units.Bytes(free)} free. " +
                        "Free some space, pick a file system with room, or ask for less.",
                        size, free);
                }
            }
            return Map(file, size, writable: true, fullPath);
        }
        catch (Exception e) when (e is InsufficientMemoryException)
        {
            file.Dispose();
            File.Delete(fullPath);
            long free = new DriveInfo(fullPath).AvailableFreeSpace;
            throw new SharedMemoryException(
                $"Cannot create the {Units.Bytes(size)} file '{fullPath}': its file system has {Units.Bytes(free)} free. " +
                "Free some space, pick a file system with room, or ask for less.",
                size, free, e);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Maps all of the file at <paramref name="path"/> (a <see cref="Path"/> of another process), without the checks of a descriptor.</summary>
    public static SharedSegment OpenPath(string path, bool writable)
    {
        Libc.EnsureSupported();
        SafeFileHandle file = Libc.Open(path, writable);
        try
        {
            return Map(file, Libc.Identify(file).Size, writable, filePath: null);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Opens an existing file and maps all of it.</summary>
    public static SharedSegment OpenFile(string path, bool writable)
    {
        Libc.EnsureSupported();
        ArgumentException.ThrowIfNullOrEmpty(path);
        string fullPath = System.IO.Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            throw new FileNotFoundException($"Cannot open '{fullPath}' as shared memory: there is no such file.", fullPath);
        }
        SafeFileHandle file = Libc.Open(fullPath, writable);
        try
        {
            return Map(file, Libc.Identify(file).Size, writable, fullPath);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Opens a segment that another process of this user created with <paramref name="name"/>.</summary>
    public static SharedSegment OpenNamed(string name, bool writable, out string contents)
    {
        Libc.EnsureSupported();
        SegmentDescriptor descriptor = NameRegistration.Resolve(name, out contents);
        return Open(descriptor with { Writable = writable }, $"the shared segment named '{name}'");
    }

    /// <summary>
    /// Maps the segment a descriptor names, through the descriptor owner's <c>/proc/PID/fd/N</c>, and
    /// checks that it is the same file the owner described (a descriptor number can be reused).
    /// </summary>
    public static SharedSegment Open(in SegmentDescriptor descriptor, string what)
    {
        Libc.EnsureSupported();
        string path = descriptor.ProcPath;
        SafeFileHandle file;
        try
        {
            file = Libc.Open(path, descriptor.Writable);
        }
        catch (FileNotFoundException e)
        {
            throw Gone(descriptor, what, e);
        }
        catch (IOException e) when (!StillNames(descriptor))
        {
            // The owner's descriptor number was reused for something that cannot be opened through
            // /proc (a socket or a pipe end gives ENXIO): the segment is gone all the same.
            throw Gone(descriptor, what, e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new SharedMemoryException(
                $"Cannot attach to {what}: process {descriptor.OwnerPid} holds it, and this process (user {Environment.UserName}) " +
                "may not open that process's files. Shared objects can be shared only between processes of the same user.", e);
        }
        try
        {
            FileIdentity identity = Libc.Identify(file);
            if (!descriptor.Names(identity))
            {
                throw Gone(descriptor, what, inner: null);
            }
            if (identity.Size < descriptor.Size)
            {
                throw new SharedMemoryException(
                    $"Cannot attach to {what}: it was described as {Units.Bytes(descriptor.Size)}, but its file now holds only {Units.Bytes(identity.Size)} (it was truncated).");
            }
            return Map(file, descriptor.Size, descriptor.Writable, filePath: null);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Whether the owner's descriptor still names the file it described.</summary>
    private static bool StillNames(in SegmentDescriptor descriptor) =>
        Libc.TryIdentify(descriptor.ProcPath) is { } now && descriptor.Names(now);

    private static SharedMemoryException Gone(in SegmentDescriptor descriptor, string what, Exception? inner) => new(
        $"Cannot attach to {what}: process {descriptor.OwnerPid}, which held it, has exited or disposed it. " +
        "Keep shared objects alive (not disposed, and their creating process running) until every task that uses them has finished.",
        inner);

    private static SharedSegment Map(SafeFileHandle file, long size, bool writable, string? filePath)
    {
        // mmap refuses a zero-length mapping; an empty segment maps one byte that is never exposed.
        SafeMappedRegion mapping = Libc.MapShared(file, Math.Max(size, 1), writable);
        return new SharedSegment(file, mapping, size, writable, Libc.Identify(file), filePath);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _name?.Dispose();
        // Not _mapping.Dispose(): another thread may have passed its disposed check and be about to
        // read or write, and an access to an unmapped address kills the process. Retiring releases
        // the shared pages now; the address range goes when the last object over it is collected.
        // If the kernel refuses the swap, the shared pages stay mapped until then: later, never unsafe.
        _ = _mapping.Retire(IsWritable);
        _file.Dispose();
    }
}
