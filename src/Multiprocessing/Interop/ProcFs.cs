using System.Globalization;

namespace Multiprocessing.Interop;

/// <summary>
/// The one reader of the kernel's text files under <c>/proc</c> (and the cgroup files under
/// <c>/sys/fs/cgroup</c>): each format is parsed here once, and the library and the <c>mp</c> tool
/// call these methods instead of opening the files themselves.
/// </summary>
/// <remarks>
/// These files describe processes that may end at any moment, so a read that finds the process gone
/// is an ordinary outcome (<c>Try…</c> returns false), not an error. Formats: proc(5).
/// </remarks>
internal static class ProcFs
{
    /// <summary>The <c>/proc/PID</c> directory of <paramref name="pid"/>.</summary>
    public static string ProcessDirectory(int pid) => "/proc/" + pid.ToString(CultureInfo.InvariantCulture);

    /// <summary>What <c>/proc/PID/stat</c> says about a process.</summary>
    /// <param name="State">Field 3: R, S, D, T, t, Z, X, …</param>
    /// <param name="ParentId">Field 4, <c>ppid</c>.</param>
    /// <param name="StartTicks">Field 22, <c>starttime</c>: clock ticks after boot. Together with the pid it names one process for the life of the machine.</param>
    public readonly record struct ProcessStat(char State, int ParentId, ulong StartTicks)
    {
        /// <summary>Whether it can still run code: a zombie (ended, not yet reaped) or a dead task cannot.</summary>
        public bool IsRunning => State is not ('Z' or 'X' or 'x');
    }

    /// <summary>Reads <c>/proc/PID/stat</c>; false when there is no such process (or it is being torn down).</summary>
    public static bool TryReadStat(int pid, out ProcessStat stat)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(ProcessDirectory(pid) + "/stat");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException)
        {
            // Gone, or going (ESRCH while the process is torn down): either way it holds nothing.
            stat = default;
            return false;
        }
        return TryParseStat(bytes, out stat);
    }

    /// <summary>Parses the text of <c>/proc/PID/stat</c>.</summary>
    internal static bool TryParseStat(ReadOnlySpan<byte> text, out ProcessStat stat)
    {
        stat = default;
        // "pid (comm) state ppid ... starttime ...": comm may hold spaces and parentheses, so the
        // fields are counted from the last ')'.
        int close = text.LastIndexOf((byte)')');
        if (close < 0 || close + 2 >= text.Length)
        {
            return false;
        }
        ReadOnlySpan<byte> rest = text[(close + 2)..];
        char state = (char)rest[0];
        ulong parent = 0;
        ulong start = 0;
        for (int field = 3; field <= 22; field++)
        {
            int space = rest.IndexOf((byte)' ');
            ReadOnlySpan<byte> value = space < 0 ? rest : rest[..space];
            if (field == 4)
            {
                parent = Digits(value);
            }
            else if (field == 22)
            {
                start = Digits(value);
                break;
            }
            if (space < 0)
            {
                return false;
            }
            rest = rest[(space + 1)..];
        }
        stat = new ProcessStat(state, (int)parent, start);
        return true;

        static ulong Digits(ReadOnlySpan<byte> value)
        {
            ulong n = 0;
            foreach (byte digit in value)
            {
                if (digit is < (byte)'0' or > (byte)'9')
                {
                    break;
                }
                n = n * 10 + (ulong)(digit - '0');
            }
            return n;
        }
    }

    /// <summary>
    /// This process's resident memory that is not shared with another process, from
    /// <c>/proc/self/statm</c> (resident − shared pages): cheap enough to read after every task,
    /// unlike <c>smaps_rollup</c>. Zero if it cannot be read.
    /// </summary>
    public static long PrivateResidentBytes()
    {
        try
        {
            string[] fields = File.ReadAllText("/proc/self/statm").Split(' ');
            return (long.Parse(fields[1], CultureInfo.InvariantCulture) - long.Parse(fields[2], CultureInfo.InvariantCulture)) * Environment.SystemPageSize;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>The real user id of <paramref name="pid"/> (the <c>Uid:</c> line of <c>/proc/PID/status</c>), or null if it cannot be read.</summary>
    public static int? ReadRealUserId(int pid)
    {
        try
        {
            foreach (string line in File.ReadLines(ProcessDirectory(pid) + "/status"))
            {
                // "Uid:\treal\teffective\tsaved\tfs"
                if (line.StartsWith("Uid:", StringComparison.Ordinal))
                {
                    string[] ids = line[4..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                    return ids.Length > 0 && int.TryParse(ids[0], NumberStyles.None, CultureInfo.InvariantCulture, out int uid) ? uid : null;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }

    /// <summary>
    /// Reads <c>/proc/PID/smaps_rollup</c> as text. The file system's exceptions pass through
    /// unchanged: the caller tells "no such process", "kernel too old" and "not allowed" apart.
    /// </summary>
    public static string ReadSmapsRollup(int pid) => File.ReadAllText(ProcessDirectory(pid) + "/smaps_rollup");

    /// <summary>
    /// Parses lines of the form <c>Name:   N kB</c> (smaps_rollup, meminfo) into bytes by name.
    /// A first line that is a mapping header (smaps_rollup's <c>… [rollup]</c>) is skipped.
    /// </summary>
    /// <param name="text">The file's text.</param>
    /// <param name="malformed">
    /// Called with the line number and line for a line that is not of that form; returns the
    /// exception to throw, or null to skip the line (meminfo has a few lines without a unit).
    /// </param>
    public static Dictionary<string, long> ParseKilobyteFields(string text, Func<int, string, Exception?> malformed)
    {
        var fields = new Dictionary<string, long>(StringComparer.Ordinal);
        int lineNumber = 0;
        foreach (string line in text.Split('\n'))
        {
            lineNumber++;
            if (line.Length == 0 || (lineNumber == 1 && line.EndsWith("[rollup]", StringComparison.Ordinal)))
            {
                continue;
            }
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            ReadOnlySpan<char> value = colon > 0 ? line.AsSpan(colon + 1).Trim() : default;
            if (colon <= 0 || !value.EndsWith(" kB", StringComparison.Ordinal) ||
                !long.TryParse(value[..^3].TrimEnd(), NumberStyles.None, CultureInfo.InvariantCulture, out long kilobytes))
            {
                if (malformed(lineNumber, line) is { } error)
                {
                    throw error;
                }
                continue;
            }
            // A field the kernel adds later is kept too; callers take what they know.
            fields[line[..colon]] = checked(kilobytes * 1024);
        }
        return fields;
    }

    /// <summary>The machine's memory figures from <c>/proc/meminfo</c>, in bytes by name (<c>MemTotal</c>, <c>MemAvailable</c>, <c>SwapFree</c>, …).</summary>
    public static Dictionary<string, long> ReadMemInfo() =>
        ParseKilobyteFields(File.ReadAllText("/proc/meminfo"), static (_, _) => null);

    /// <summary>
    /// The limit minus the usage of this process's memory control group (v2, or v1's memory
    /// controller), or null where there is no limit or it cannot be read.
    /// </summary>
    public static long? CgroupMemoryHeadroom()
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
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;

        static long? Headroom(string limitPath, string usagePath)
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

    /// <summary>This process's arguments exactly as the kernel started it, the program's name first and empty arguments kept (<c>/proc/self/cmdline</c>).</summary>
    public static string[] ReadOwnCommandLine()
    {
        string text = File.ReadAllText("/proc/self/cmdline");
        // Every argument ends in a NUL, so the last split is the empty tail after the final one.
        return text.Length == 0 ? [] : text[..^1].Split('\0');
    }

    /// <summary>The arguments of <paramref name="pid"/>'s command line (<c>/proc/PID/cmdline</c>); empty for a kernel thread.</summary>
    /// <exception cref="IOException">The process is gone or cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">Not allowed to read it.</exception>
    public static string[] ReadCommandLine(int pid) =>
        File.ReadAllText(ProcessDirectory(pid) + "/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The kernel's name of <paramref name="pid"/> (<c>/proc/PID/comm</c>).</summary>
    /// <exception cref="IOException">The process is gone or cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">Not allowed to read it.</exception>
    public static string ReadKernelName(int pid) => File.ReadAllText(ProcessDirectory(pid) + "/comm").TrimEnd('\n');

    /// <summary>The ids of every process visible in this pid namespace.</summary>
    public static IEnumerable<int> ProcessIds()
    {
        foreach (string directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                yield return pid;
            }
        }
    }

    /// <summary>The first line of a small kernel file (<c>/proc/loadavg</c>, <c>/proc/sys/kernel/osrelease</c>), or null if absent.</summary>
    public static string? ReadFirstLine(string path) => File.Exists(path) ? File.ReadLines(path).FirstOrDefault() : null;

    /// <summary>The value of the first <c>/proc/cpuinfo</c> line named <paramref name="name"/> (such as <c>model name</c>), or null.</summary>
    public static string? ReadCpuInfo(string name)
    {
        if (!File.Exists("/proc/cpuinfo"))
        {
            return null;
        }
        string? line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal));
        return line is null ? null : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
    }
}
