namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>One process's memory from <c>/proc/PID/smaps_rollup</c>, in bytes.</summary>
internal readonly record struct RollupMemory(long Rss, long Pss, long Uss)
{
    public const double MiB = 1024.0 * 1024.0;

    /// <summary>Reads the rollup; USS is private clean + private dirty.</summary>
    public static RollupMemory Read(int pid)
    {
        long rss = 0, pss = 0, privateClean = 0, privateDirty = 0;
        foreach (string line in File.ReadLines($"/proc/{pid}/smaps_rollup"))
        {
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 3 || parts[2] != "kB")
            {
                continue;
            }
            long bytes = long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            switch (parts[0])
            {
                case "Rss:": rss = bytes; break;
                case "Pss:": pss = bytes; break;
                case "Private_Clean:": privateClean = bytes; break;
                case "Private_Dirty:": privateDirty = bytes; break;
            }
        }
        return new RollupMemory(rss, pss, privateClean + privateDirty);
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
    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
