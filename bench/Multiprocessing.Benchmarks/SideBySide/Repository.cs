namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>Where the repository is, for the runners' default report paths and the CPython scripts.</summary>
internal static class Repository
{
    /// <summary>The folder holding Multiprocessing.slnx, looked for above this program and above the working directory.</summary>
    public static string FindRoot()
    {
        foreach (string start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Multiprocessing.slnx")))
                {
                    return dir.FullName;
                }
            }
        }
        return Environment.CurrentDirectory;
    }
}
