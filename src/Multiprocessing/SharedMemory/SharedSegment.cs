using Microsoft.Win32.SafeHandles;
using Multiprocessing.Interop;

namespace Multiprocessing.SharedMemory;

/// <summary>
/// A block of memory that several processes map. Backed by an anonymous memory file, so it has no
/// name to leak: the memory is freed when the last process that maps or holds it exits, however it exits.
/// Other processes attach through <see cref="Path"/> while the creating process is alive.
/// </summary>
internal sealed unsafe class SharedSegment : IDisposable
{
    private readonly SafeFileHandle _file;
    private readonly SafeMappedRegion _mapping;

    private SharedSegment(SafeFileHandle file, SafeMappedRegion mapping, string path)
    {
        _file = file;
        _mapping = mapping;
        Path = path;
    }

    /// <summary>Where another process opens this segment (valid while the creator lives).</summary>
    public string Path { get; }

    public long Length => _mapping.Length;

    public byte* Pointer => _mapping.Pointer;

    public static SharedSegment Create(string debugName, long length)
    {
        Libc.EnsureSupported();
        SafeFileHandle file = Libc.CreateMemoryFile(debugName, length);
        try
        {
            SafeMappedRegion mapping = Libc.MapShared(file, length, writable: true);
            return new SharedSegment(file, mapping, Libc.ProcFdPath(file));
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public static SharedSegment Open(string path, long length, bool writable)
    {
        Libc.EnsureSupported();
        SafeFileHandle file = Libc.Open(path, writable);
        try
        {
            SafeMappedRegion mapping = Libc.MapShared(file, length, writable);
            return new SharedSegment(file, mapping, path);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _mapping.Dispose();
        _file.Dispose();
    }
}
