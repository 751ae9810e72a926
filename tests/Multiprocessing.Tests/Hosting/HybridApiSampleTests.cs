using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Multiprocessing.Tests.Hosting;

/// <summary>
/// Smoke test of samples/HybridApi, run as the real application: it starts on a free loopback
/// port, answers from its pool and in-process, and on SIGTERM stops cleanly, leaving no worker behind.
/// </summary>
public sealed class HybridApiSampleTests
{
    [Fact]
    public async Task HybridApi_StartRequestAndSigterm_AnswersThenExitsWithNoOrphanWorker()
    {
        string dll = SampleAssembly("HybridApi");
        var lines = new List<string>();
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var start = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add("http://127.0.0.1:0");
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
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
            int at = line.IndexOf("Now listening on: ", StringComparison.Ordinal);
            if (at >= 0)
            {
                listening.TrySetResult(new Uri(line[(at + "Now listening on: ".Length)..].Trim()));
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
            if (await Task.WhenAny(listening.Task, exited, Task.Delay(Bounds.Unexpected)) != listening.Task)
            {
                Assert.Fail($"HybridApi did not start listening.{Environment.NewLine}{Output()}");
            }
            Uri address = await listening.Task;
            using var http = new HttpClient { BaseAddress = address, Timeout = Bounds.Unexpected };

            using JsonDocument pooled = JsonDocument.Parse(await http.GetStringAsync("/primes/pool?n=1000"));
            Assert.Equal(168, pooled.RootElement.GetProperty("count").GetInt32());
            Assert.Equal("pool", pooled.RootElement.GetProperty("ranIn").GetString());
            using JsonDocument inline = JsonDocument.Parse(await http.GetStringAsync("/primes/inline?n=1000"));
            Assert.Equal(168, inline.RootElement.GetProperty("count").GetInt32());

            using JsonDocument status = JsonDocument.Parse(await http.GetStringAsync("/pool"));
            workers = status.RootElement.GetProperty("workers").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.NotEmpty(workers);
            Assert.All(workers, pid => Assert.True(Wait.ProcessExists(pid), $"worker {pid} runs"));

            // What a service manager does to stop a service: SIGTERM, then the host shuts down gracefully.
            Assert.Equal(0, Kill(app.Id, "TERM"));
            await exited.WaitAsync(Bounds.Unexpected);
            Assert.True(app.ExitCode == 0, $"HybridApi exited with code {app.ExitCode}.{Environment.NewLine}{Output()}");
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
