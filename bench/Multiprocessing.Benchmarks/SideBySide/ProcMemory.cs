namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>One process's memory from <c>/proc/PID/smaps_rollup</c>, in bytes (read by the library's <see cref="ProcessMemory"/>).</summary>
internal readonly record struct RollupMemory(long Rss, long Pss, long Uss)
{
    public const double MiB = 1024.0 * 1024.0;

    public static RollupMemory Read(int pid)
    {
        MemoryUsage usage = ProcessMemory.Read(pid);
        return new RollupMemory(usage.Rss, usage.Pss, usage.Uss);
    }
}

/// <summary>Machine-wide facts that colour the memory and timing figures.</summary>
internal static class ProcessCensus
{
    /// <summary>How many processes map a file whose path contains <paramref name="needle"/>: PSS splits that file's pages among all of them.</summary>
    public static int CountMapping(string needle)
    {
        int count = 0;
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), System.Globalization.CultureInfo.InvariantCulture, out _))
            {
                continue;
            }
            try
            {
                if (File.ReadLines(Path.Combine(dir, "maps")).Any(line => line.Contains(needle, StringComparison.Ordinal)))
                {
                    count++;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return count;
    }

    /// <summary>The first three fields of /proc/loadavg.</summary>
    public static string LoadAverage() =>
        Multiprocessing.Interop.ProcFs.ReadFirstLine("/proc/loadavg") is { } line ? string.Join(' ', line.Split(' ').Take(3)) : "unknown";
}
