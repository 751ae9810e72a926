using System.Globalization;

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
        Dictionary<string, long> info = ReadMemInfo();
        long machine = info.GetValueOrDefault("MemAvailable", long.MaxValue / 2) + info.GetValueOrDefault("SwapFree", 0);
        (long Bytes, string Source) best = (machine, "this machine's available memory and free swap");
        if (CgroupHeadroom() is { } cgroup && cgroup < best.Bytes)
        {
            best = (cgroup, "this process's control-group memory limit");
        }
        return best;
    }

    private static Dictionary<string, long> ReadMemInfo()
    {
        var values = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string line in File.ReadLines("/proc/meminfo"))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            string[] parts = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (colon > 0 && parts.Length > 0 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kib))
            {
                values[line[..colon]] = kib * 1024;
            }
        }
        return values;
    }

    /// <summary>The limit minus the usage of this process's memory control group (v2 or v1), or null if unlimited or unknown.</summary>
    private static long? CgroupHeadroom()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/cgroup"))
            {
                string[] parts = line.Split(':', 3);
                if (parts.Length != 3)
                {
                    continue;
                }
                if (parts[0] == "0" && parts[1].Length == 0
                    && Headroom($"/sys/fs/cgroup{parts[2]}/memory.max", $"/sys/fs/cgroup{parts[2]}/memory.current") is { } v2)
                {
                    return v2;
                }
                if (parts[1].Split(',').Contains("memory"))
                {
                    return Headroom($"/sys/fs/cgroup/memory{parts[2]}/memory.limit_in_bytes", $"/sys/fs/cgroup/memory{parts[2]}/memory.usage_in_bytes")
                        ?? Headroom("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes");
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return null;
    }

    private static long? Headroom(string limitPath, string usagePath)
    {
        if (!File.Exists(limitPath) || !File.Exists(usagePath))
        {
            return null;
        }
        string limitText = File.ReadAllText(limitPath).Trim();
        if (!long.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out long limit) || limit >= long.MaxValue / 4)
        {
            return null; // "max", or v1's page-rounded LONG_MAX: no limit
        }
        long usage = long.Parse(File.ReadAllText(usagePath).Trim(), NumberStyles.None, CultureInfo.InvariantCulture);
        return Math.Max(0, limit - usage);
    }
}
