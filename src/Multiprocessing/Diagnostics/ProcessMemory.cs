using System.Diagnostics.CodeAnalysis;
using Multiprocessing.Interop;

namespace Multiprocessing;

/// <summary>
/// Reads the memory breakdown of any process from the kernel (<c>/proc/PID/smaps_rollup</c>):
/// RSS, PSS, USS, shared and private pages, swap. The counterpart of Python's
/// <c>psutil.Process(pid).memory_full_info()</c>.
/// </summary>
/// <remarks>
/// Reading another process needs the same access as attaching a debugger to it: the same user
/// (and a ptrace policy that allows it), or root / <c>CAP_SYS_PTRACE</c>. The kernel walks every
/// mapping of the process to produce the figures, so a read costs about a millisecond for a .NET
/// process; it is not something to call in a tight loop.
/// </remarks>
/// <example>
/// <code>
/// MemoryUsage me = ProcessMemory.ReadCurrent();
/// Console.WriteLine($"PSS {me.Pss >> 20} MiB, USS {me.Uss >> 20} MiB");
/// </code>
/// </example>
public static class ProcessMemory
{
    // ESRCH: /proc/PID/smaps_rollup of a process that has exited but not been reaped (a zombie),
    // or of a kernel thread, opens but fails to read with "No such process": there is no memory
    // map left. .NET puts the raw errno in the IOException's HResult for errors it does not map.
    private const int Esrch = 3;

    /// <summary>Reads the memory of process <paramref name="processId"/>.</summary>
    /// <param name="processId">The process id (as seen in this process's PID namespace).</param>
    /// <returns>Its figures, in bytes.</returns>
    /// <exception cref="ArgumentException">There is no process with that id, or it has exited.</exception>
    /// <exception cref="UnauthorizedAccessException">The process belongs to another user, or the ptrace policy forbids reading it.</exception>
    /// <exception cref="InvalidDataException">The kernel's report is not in the expected format.</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux, or a kernel older than 4.14 (no <c>smaps_rollup</c>).</exception>
    /// <exception cref="IOException">Reading the report failed for another reason.</exception>
    public static MemoryUsage Read(int processId)
    {
        if (TryReadCore(processId, out MemoryUsage? usage) is { } missing)
        {
            throw missing;
        }
        return usage!;
    }

    /// <summary>Reads the memory of process <paramref name="processId"/>, or reports that it does not exist.</summary>
    /// <param name="processId">The process id (as seen in this process's PID namespace).</param>
    /// <param name="usage">Its figures, in bytes, when the method returns true.</param>
    /// <returns>True if the process was read; false if there is no process with that id or it has exited (the race when reading processes that may end at any time).</returns>
    /// <exception cref="UnauthorizedAccessException">The process belongs to another user, or the ptrace policy forbids reading it.</exception>
    /// <exception cref="InvalidDataException">The kernel's report is not in the expected format.</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux, or a kernel older than 4.14 (no <c>smaps_rollup</c>).</exception>
    /// <exception cref="IOException">Reading the report failed for another reason.</exception>
    public static bool TryRead(int processId, [NotNullWhen(true)] out MemoryUsage? usage)
    {
        _ = TryReadCore(processId, out usage);
        return usage is not null;
    }

    /// <summary>Reads the memory of the current process.</summary>
    /// <returns>Its figures, in bytes.</returns>
    /// <exception cref="InvalidDataException">The kernel's report is not in the expected format.</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux, or a kernel older than 4.14 (no <c>smaps_rollup</c>).</exception>
    /// <exception cref="IOException">Reading the report failed.</exception>
    public static MemoryUsage ReadCurrent() => Read(Environment.ProcessId);

    /// <summary>Reads and parses the report; returns the "no such process" exception instead of throwing it, so that TryRead does not pay for a throw.</summary>
    private static ArgumentException? TryReadCore(int processId, out MemoryUsage? usage)
    {
        Interop.Libc.EnsureSupported();
        usage = null;
        if (processId <= 0)
        {
            return NoSuchProcess(processId, "process ids are positive");
        }

        string directory = ProcFs.ProcessDirectory(processId);
        string path = directory + "/smaps_rollup";
        string text;
        try
        {
            text = ProcFs.ReadSmapsRollup(processId);
        }
        catch (DirectoryNotFoundException)
        {
            return NoSuchProcess(processId, null);
        }
        catch (FileNotFoundException)
        {
            // The process may have ended between the two looks; only a live /proc/PID without
            // the file means the kernel is too old.
            if (!Directory.Exists(directory))
            {
                return NoSuchProcess(processId, null);
            }
            throw new PlatformNotSupportedException($"Cannot read the memory of process {processId}: {path} does not exist. It needs Linux 4.14 or later; this is {Environment.OSVersion.VersionString}.");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException(
                $"Cannot read the memory of process {processId}: permission denied. {WhyDenied(processId)} " +
                "The kernel lets a process read another's memory map only when it could attach a debugger to it: same user and a ptrace policy that allows it, or root / CAP_SYS_PTRACE.", e);
        }
        catch (IOException e) when (e.HResult == Esrch)
        {
            return NoSuchProcess(processId, "it has exited (or it is a kernel thread, which has no memory map)");
        }

        usage = Parse(processId, text);
        return null;
    }

    private static ArgumentException NoSuchProcess(int processId, string? detail) =>
        new(detail is null ? $"There is no process with id {processId}." : $"There is no process with id {processId}: {detail}.", nameof(processId));

    /// <summary>Names the owner of the process when it differs from ours, the usual reason for a refusal.</summary>
    private static string WhyDenied(int processId)
    {
        int? owner = ProcFs.ReadRealUserId(processId);
        int? self = ProcFs.ReadRealUserId(Environment.ProcessId);
        if (owner is null || self is null)
        {
            return "";
        }
        return owner != self
            ? $"It belongs to user id {owner}, not the same user as this process (user id {self})."
            : $"It belongs to the same user (id {owner}), so the ptrace policy (kernel.yama.ptrace_scope) or a dumpable flag forbids it.";
    }

    /// <summary>Parses the text of <c>smaps_rollup</c>: a header line for the whole address range, then lines of the form <c>Name:   N kB</c>.</summary>
    internal static MemoryUsage Parse(int processId, string text)
    {
        Dictionary<string, long> fields = ProcFs.ParseKilobyteFields(text, (lineNumber, line) => new InvalidDataException(
            $"The memory report of process {processId} (/proc/{processId}/smaps_rollup) has an unexpected line {lineNumber}: \"{line}\". Expected \"Name:   N kB\"."));

        long Required(string name) => fields.TryGetValue(name, out long bytes)
            ? bytes
            : throw new InvalidDataException($"The memory report of process {processId} (/proc/{processId}/smaps_rollup) has no {name} line; it has {(fields.Count == 0 ? "no fields at all" : string.Join(", ", fields.Keys))}.");
        long? Optional(string name) => fields.TryGetValue(name, out long bytes) ? bytes : null;

        return new MemoryUsage
        {
            ProcessId = processId,
            Rss = Required("Rss"),
            Pss = Required("Pss"),
            PssDirty = Optional("Pss_Dirty"),
            PssAnon = Optional("Pss_Anon"),
            PssFile = Optional("Pss_File"),
            PssShmem = Optional("Pss_Shmem"),
            SharedClean = Required("Shared_Clean"),
            SharedDirty = Required("Shared_Dirty"),
            PrivateClean = Required("Private_Clean"),
            PrivateDirty = Required("Private_Dirty"),
            Referenced = Required("Referenced"),
            Anonymous = Required("Anonymous"),
            Ksm = Optional("KSM"),
            LazyFree = Required("LazyFree"),
            AnonHugePages = Required("AnonHugePages"),
            ShmemPmdMapped = Required("ShmemPmdMapped"),
            FilePmdMapped = Optional("FilePmdMapped"),
            SharedHugetlb = Required("Shared_Hugetlb"),
            PrivateHugetlb = Required("Private_Hugetlb"),
            Swap = Required("Swap"),
            SwapPss = Required("SwapPss"),
            Locked = Required("Locked"),
        };
    }
}
