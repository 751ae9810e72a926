using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Multiprocessing.Tests.Samples;

/// <summary>
/// Smoke test of samples/PreforkWeb, run as the real application: two Kestrel workers in shared
/// mode on one free loopback port (SO_REUSEPORT), one request answered, SIGTERM stops the parent
/// and both workers, and no worker process is left behind.
/// </summary>
public sealed partial class PreforkWebTests
{
    [GeneratedRegex(@"ready: (?<url>http://127\.0\.0\.1:\d+/) mode shared, workers (?<pids>[\d,]+)")]
    private static partial Regex ReadyLine();

    [Fact]
    public async Task PreforkWeb_SharedModeTwoWorkers_AnswersThenSigtermLeavesNoWorker()
    {
        string dll = SampleAssembly("PreforkWeb");
        var lines = new List<string>();
        var ready = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        var start = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // A small dataset: the test is about processes and sockets, not memory.
        foreach (string arg in new[] { dll, "--mode", "shared", "--workers", "2", "--port", "0", "--items", "1000000" })
        {
            start.ArgumentList.Add(arg);
        }
        using var app = Process.Start(start)!;
        void Collect(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (lines)
            {
                lines.Add(line);
            }
            if (ReadyLine().Match(line) is { Success: true } match)
            {
                ready.TrySetResult(match);
            }
        }
        app.OutputDataReceived += (_, e) => Collect(e.Data);
        app.ErrorDataReceived += (_, e) => Collect(e.Data);
        app.BeginOutputReadLine();
        app.BeginErrorReadLine();
        string Output()
        {
            lock (lines)
            {
                return string.Join(Environment.NewLine, lines);
            }
        }

        int[] workers = [];
        try
        {
            Task exited = app.WaitForExitAsync();
            if (await Task.WhenAny(ready.Task, exited, Task.Delay(Bounds.Unexpected)) != ready.Task)
            {
                Assert.Fail($"PreforkWeb did not report its workers ready.{Environment.NewLine}{Output()}");
            }
            Match match = await ready.Task;
            workers = match.Groups["pids"].Value.Split(',').Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(2, workers.Length);
            Assert.All(workers, pid => Assert.True(Wait.ProcessExists(pid), $"worker {pid} runs"));

            using var http = new HttpClient { BaseAddress = new Uri(match.Groups["url"].Value), Timeout = Bounds.Unexpected };
            // "<worker pid> <slice start> <sum of the slice>": element i holds i, so the sum is known.
            string[] answer = (await http.GetStringAsync("/")).Trim().Split(' ');
            Assert.Equal(3, answer.Length);
            Assert.Contains(int.Parse(answer[0], CultureInfo.InvariantCulture), workers);
            long first = long.Parse(answer[1], CultureInfo.InvariantCulture);
            const long slice = 100_000;
            Assert.Equal(slice * first + slice * (slice - 1) / 2, long.Parse(answer[2], CultureInfo.InvariantCulture));

            // What a service manager does to stop a service: SIGTERM; the parent stops its workers, then itself.
            Assert.Equal(0, Kill(app.Id, "TERM"));
            await exited.WaitAsync(Bounds.Unexpected);
            Assert.True(app.ExitCode == 0, $"PreforkWeb exited with code {app.ExitCode}.{Environment.NewLine}{Output()}");
            foreach (int pid in workers)
            {
                await Wait.UntilAsync(() => !Wait.ProcessExists(pid), $"worker {pid} has exited with the application");
            }
        }
        finally
        {
            if (!app.HasExited)
            {
                app.Kill(entireProcessTree: true);
            }
            foreach (int pid in workers.Where(Wait.ProcessExists))
            {
                Kill(pid, "KILL");
            }
        }
    }

    /// <summary>Sends a signal with kill(1), as the other tests do: the tests declare no native calls.</summary>
    private static int Kill(int pid, string signal)
    {
        using var kill = Process.Start("kill", $"-{signal} {pid}");
        kill.WaitForExit();
        return kill.ExitCode;
    }

    /// <summary>The sample's build output for this test run's configuration (the test project builds it first).</summary>
    private static string SampleAssembly(string name)
    {
        var binary = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = binary.Name;
        string configuration = binary.Parent!.Name;
        DirectoryInfo? root = binary;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Multiprocessing.slnx")))
        {
            root = root.Parent;
        }
        Assert.True(root is not null, $"The repository root (Multiprocessing.slnx) was not found above {AppContext.BaseDirectory}.");
        string dll = Path.Combine(root!.FullName, "samples", name, "bin", configuration, framework, name + ".dll");
        Assert.True(File.Exists(dll), $"{dll} does not exist; build the solution in {configuration} first.");
        return dll;
    }

    private static string DotnetHost()
    {
        string dotnet = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", "dotnet"));
        return File.Exists(dotnet) ? dotnet : "dotnet";
    }
}
