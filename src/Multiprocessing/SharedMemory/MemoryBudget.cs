using Multiprocessing.Interop;

namespace Multiprocessing.Sharing;

/// <summary>
/// Refuses, at creation, a memory segment larger than the machine can give. A memory file is sized
/// sparsely, so without this check an oversized request would succeed and the process would be
/// killed later, when the pages are first touched.
/// </summary>
internal static class MemoryBudget
{
    public static void EnsureAvailable(long bytes)
    {
        if (bytes < 64L << 20)
        {
            return; // small segments: not worth reading /proc for
        }
        (long available, string source) = Available();
        if (bytes > available)
        {
            throw new SharedMemoryException(
                $"Cannot create a shared segment of {Units.Bytes(bytes)}: {source} allows about {Units.Bytes(available)}. " +
                "Use a file-backed array (SharedArray<T>.CreateFile), whose pages the kernel can write back to disk and which may exceed RAM, " +
                "or ask for less.",
                bytes, available);
        }
    }

    /// <summary>The bytes this process could still commit, and which limit sets that figure.</summary>
    public static (long Bytes, string Source) Available()
    {
        Dictionary<string, long> info = ProcFs.ReadMemInfo();
        long machine = info.GetValueOrDefault("MemAvailable", long.MaxValue / 2) + info.GetValueOrDefault("SwapFree", 0);
        (long Bytes, string Source) best = (machine, "this machine's available memory and free swap");
        if (ProcFs.CgroupMemoryHeadroom() is { } cgroup && cgroup < best.Bytes)
        {
            best = (cgroup, "this process's control-group memory limit");
        }
        return best;
    }
}
