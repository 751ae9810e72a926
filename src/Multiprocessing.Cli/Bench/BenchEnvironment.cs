using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Multiprocessing.Interop;

namespace Multiprocessing.Cli.Bench;

/// <summary>The checkout <c>mp bench</c> runs from: where the benchmark runner, the CPython peers and the C floors are.</summary>
/// <param name="Root">The folder holding Multiprocessing.slnx.</param>
internal sealed partial record BenchRepository(string Root)
{
    /// <summary>The benchmark runner's project folder.</summary>
    public string BenchProject => Path.Combine(Root, "bench", "Multiprocessing.Benchmarks");

    /// <summary>The runner's Release build.</summary>
    public string BenchDll => Path.Combine(BenchProject, "bin", "Release", "net10.0", "Multiprocessing.Benchmarks.dll");

    /// <summary>The C floors' sources; the runner builds them into its output folder.</summary>
    public string FloorsDirectory => Path.Combine(Root, "bench", "floors");

    /// <summary>The folder holding Multiprocessing.slnx above the working directory or above this program, or null when <c>mp</c> runs outside a clone.</summary>
    public static BenchRepository? Find()
    {
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Multiprocessing.slnx")) && Directory.Exists(Path.Combine(dir.FullName, "bench", "Multiprocessing.Benchmarks")))
                {
                    return new BenchRepository(dir.FullName);
                }
            }
        }
        return null;
    }

    /// <summary>The latest write time (UTC) of the sources the runner is built from: its project, the library, the shared build files.</summary>
    public DateTime NewestSourceWrite()
    {
        DateTime newest = DateTime.MinValue;
        foreach (string folder in new[] { BenchProject, Path.Combine(Root, "src", "Multiprocessing") })
        {
            foreach (string file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
            {
                string relative = Path.GetRelativePath(folder, file);
                if (relative.StartsWith("bin" + Path.DirectorySeparatorChar, StringComparison.Ordinal) || relative.StartsWith("obj" + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                {
                    continue;
                }
                DateTime written = File.GetLastWriteTimeUtc(file);
                newest = written > newest ? written : newest;
            }
        }
        foreach (string file in new[] { "Directory.Build.props", "Directory.Packages.props" }.Select(f => Path.Combine(Root, f)).Where(File.Exists))
        {
            DateTime written = File.GetLastWriteTimeUtc(file);
            newest = written > newest ? written : newest;
        }
        return newest;
    }

    /// <summary>The commit checked out, and whether src/ has uncommitted changes.</summary>
    public async Task<string> DescribeSourceAsync(CancellationToken cancellationToken)
    {
        try
        {
            ChildResult head = await ChildRunner.RunAsync("git", ["-C", Root, "log", "-1", "--format=%h %cI %s"], Root, TimeSpan.FromSeconds(20), null, cancellationToken).ConfigureAwait(false);
            ChildResult dirty = await ChildRunner.RunAsync("git", ["-C", Root, "status", "--porcelain", "--", "src", "bench"], Root, TimeSpan.FromSeconds(20), null, cancellationToken).ConfigureAwait(false);
            if (head.ExitCode != 0)
            {
                return "unknown (not a git checkout)";
            }
            return "commit " + head.Output.Trim() + (dirty.Output.Trim().Length > 0 ? "; with uncommitted changes in src/ or bench/ (the working tree was measured)" : "");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown (git not available)";
        }
    }
}

/// <summary>What a child process printed and how it ended.</summary>
/// <param name="ExitCode">Its exit code; -1 when it was killed at its time-out.</param>
/// <param name="Output">Standard output.</param>
/// <param name="Error">Standard error (also passed on line by line as it came).</param>
/// <param name="TimedOut">It was killed at its time-out.</param>
/// <param name="Elapsed">Wall time.</param>
internal sealed record ChildResult(int ExitCode, string Output, string Error, bool TimedOut, TimeSpan Elapsed);

/// <summary>Runs one child process with a time-out, its standard input closed, and its whole tree killed if it overruns or is cancelled.</summary>
internal static class ChildRunner
{
    /// <summary>Runs <paramref name="file"/> to completion.</summary>
    /// <param name="file">The program.</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="workingDirectory">Its working directory.</param>
    /// <param name="timeout">How long it may take before it and its descendants are killed.</param>
    /// <param name="progress">Receives each standard error line as it comes; null to only collect them.</param>
    /// <param name="cancellationToken">Kills the child (and its descendants) and throws.</param>
    public static async Task<ChildResult> RunAsync(string file, IReadOnlyList<string> arguments, string workingDirectory, TimeSpan timeout,
        Action<string>? progress, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {file}.");
        process.StandardInput.Close();
        var error = new StringBuilder();
        Task<string> output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        Task errors = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync(cancellationToken).ConfigureAwait(false) is string line)
            {
                lock (error)
                {
                    error.AppendLine(line);
                }
                progress?.Invoke(line);
            }
        }, cancellationToken);
        bool timedOut = false;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // This process started it; kill it and what it started, by its id.
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            timedOut = true;
        }
        string text;
        try
        {
            text = await output.ConfigureAwait(false);
            await errors.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            text = "";
        }
        string errorText;
        lock (error)
        {
            errorText = error.ToString();
        }
        return new ChildResult(timedOut ? -1 : process.ExitCode, text, errorText, timedOut, clock.Elapsed);
    }
}

/// <summary>The machine and runtimes, for the report's header.</summary>
internal static class MachineInfo
{
    /// <summary>Markdown bullet lines describing the machine and the runtimes.</summary>
    public static async Task<IReadOnlyList<string>> DescribeAsync(string python, CancellationToken cancellationToken)
    {
        var lines = new List<string>
        {
            Inv($"Machine: {Environment.ProcessorCount} cores (nproc), CPU {CpuModel()}, {MemTotal()} RAM, Linux kernel {Kernel()}"),
            $"Runtimes: {RuntimeInformation.FrameworkDescription} ({RuntimeInformation.RuntimeIdentifier}); {await PythonVersionAsync(python, cancellationToken).ConfigureAwait(false)}",
        };
        return lines;
    }

    /// <summary>The three load averages from /proc/loadavg.</summary>
    public static string LoadAverage()
    {
        string? line = ProcFs.ReadFirstLine("/proc/loadavg");
        return line is null ? "unknown" : string.Join(' ', line.Split(' ').Take(3));
    }

    /// <summary>The CPU model from /proc/cpuinfo.</summary>
    public static string CpuModel() => ProcFs.ReadCpuInfo("model name") ?? "unknown";

    private static string Kernel() => ProcFs.ReadFirstLine("/proc/sys/kernel/osrelease")?.Trim() ?? RuntimeInformation.OSDescription;

    private static string MemTotal() =>
        ProcFs.ReadMemInfo().TryGetValue("MemTotal", out long bytes) ? Inv($"{bytes / 1024.0 / 1024.0 / 1024.0:0.0} GiB") : "unknown";

    private static async Task<string> PythonVersionAsync(string python, CancellationToken cancellationToken)
    {
        if (!File.Exists(python))
        {
            return $"CPython: {python} missing (the CPython columns say peer missing)";
        }
        try
        {
            ChildResult result = await ChildRunner.RunAsync(python, ["-c",
                "import sys\ntry:\n import numpy; n = numpy.__version__\nexcept Exception: n = 'missing'\ntry:\n import joblib; j = joblib.__version__\nexcept Exception: j = 'missing'\nprint(sys.version.split()[0], n, j)"],
                Environment.CurrentDirectory, TimeSpan.FromSeconds(30), null, cancellationToken).ConfigureAwait(false);
            string[] parts = result.Output.Trim().Split(' ');
            return parts.Length == 3 ? $"CPython {parts[0]} ({python}), numpy {parts[1]}, joblib {parts[2]}" : $"CPython ({python}), version unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return $"CPython: {python} could not be started";
        }
    }

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
