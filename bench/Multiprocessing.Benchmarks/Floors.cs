using System.ComponentModel;

namespace Multiprocessing.Benchmarks;

/// <summary>
/// The C floors of bench/floors: each program is compiled with <c>cc</c> into floors/ in the
/// runner's output folder (never into the source tree) the first time a mode needs it, and again
/// when its source changed. Without a C compiler the floor is absent, and the mode says why.
/// </summary>
internal static class Floors
{
    /// <summary>bench/floors in the repository.</summary>
    public static string DefaultSources(string root) => Path.Combine(root, "bench", "floors");

    /// <summary>The note for the results when a floor is absent (none when it is there).</summary>
    public static List<string> Notes(string? absent) => absent is null ? [] : [$"Not measured against the C floor: {absent}."];

    /// <summary>The built program, or null and why it is absent.</summary>
    /// <param name="sources">The folder holding <c><paramref name="name"/>.c</c> and common.h.</param>
    /// <param name="name">The program, such as pipe_pingpong.</param>
    /// <param name="log">Progress lines, and why the floor is absent.</param>
    /// <param name="missing">What the figures show without it.</param>
    public static async Task<(string? Program, string? Absent)> PrepareAsync(string sources, string name, Action<string> log, string missing = "floor columns will be n/a")
    {
        (string? program, string? absent) = await BuildAsync(sources, name, log).ConfigureAwait(false);
        if (absent is not null)
        {
            log($"{absent}: {missing}.");
        }
        return (program, absent);
    }

    private static async Task<(string? Program, string? Absent)> BuildAsync(string sources, string name, Action<string> log)
    {
        string source = Path.Combine(sources, name + ".c");
        if (!File.Exists(source))
        {
            return (null, $"the C floor `{name}` is absent: {source} does not exist");
        }
        string folder = Path.Combine(AppContext.BaseDirectory, "floors");
        string program = Path.Combine(folder, name);
        string header = Path.Combine(sources, "common.h");
        DateTime newestSource = new[] { source, header }.Where(File.Exists).Max(File.GetLastWriteTimeUtc);
        if (File.Exists(program) && File.GetLastWriteTimeUtc(program) >= newestSource)
        {
            return (program, null);
        }
        Directory.CreateDirectory(folder);
        log($"Building the C floor {name} (cc) into {folder} ...");
        try
        {
            await SideBySide.ChildProcess.RunCheckedAsync("cc", ["-O2", "-Wall", "-Wextra", "-o", program, source], TimeSpan.FromMinutes(2)).ConfigureAwait(false);
        }
        catch (Win32Exception)
        {
            return (null, $"the C floor `{name}` is absent: no C compiler (`cc`) to build {Path.GetRelativePath(SideBySide.Repository.FindRoot(), source)}");
        }
        catch (InvalidOperationException e)
        {
            return (null, $"the C floor `{name}` is absent: `cc` failed on {source}: {e.Message.ReplaceLineEndings(" ")}");
        }
        return File.Exists(program) ? (program, null) : (null, $"the C floor `{name}` is absent: `cc` wrote no {program}");
    }
}
