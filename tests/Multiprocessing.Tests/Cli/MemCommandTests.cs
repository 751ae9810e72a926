using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Multiprocessing.Cli;

namespace Multiprocessing.Tests.Cli;

/// <summary>
/// <c>mp mem</c> run in-process through <see cref="MpCommandLine.RunAsync"/> with its own writers
/// (no Console redirection, so these run in parallel with everything else), and <c>--watch</c> run
/// as the real tool, since only a real process can be stopped by a signal.
/// </summary>
public sealed class MemCommandTests
{
    private static readonly string Self = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);

    // No process has this id: the kernel caps ids at 2^22 (pid_max).
    private const string Missing = "2147483647";

    [Fact]
    public async Task Mem_OwnProcess_TableHasItsRowAndATotal()
    {
        (int exitCode, string output, string error) = await RunAsync("mem", Self);

        Assert.True(exitCode == MpCommandLine.Success, $"exit code {exitCode}; stderr: {error}");
        Assert.Equal("", error);
        string[] lines = Lines(output);
        Assert.Matches(@"^\s*PID\s+command\s+RSS\s+PSS\s+USS\s+shared\s+swap$", lines[0]);
        string row = Assert.Single(lines, l => l.TrimStart().StartsWith(Self + " ", StringComparison.Ordinal));
        Assert.Matches(@"(\s+[0-9.]+ (KiB|MiB|GiB)){5}$", row);
        Assert.Contains(lines, l => l.Contains("total (1 process)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mem_OwnProcessJson_FiguresAreConsistentAndTotalsAreTheSums()
    {
        (int exitCode, string output, string error) = await RunAsync("mem", "--json", Self);

        Assert.True(exitCode == MpCommandLine.Success, $"exit code {exitCode}; stderr: {error}");
        using JsonDocument report = JsonDocument.Parse(output);
        JsonElement process = Assert.Single(report.RootElement.GetProperty("processes").EnumerateArray());
        Assert.Equal(Environment.ProcessId, process.GetProperty("pid").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(process.GetProperty("command").GetString()));
        long rss = process.GetProperty("rss").GetInt64(), pss = process.GetProperty("pss").GetInt64(), uss = process.GetProperty("uss").GetInt64();
        Assert.True(rss > 0, $"RSS {rss}");
        Assert.True(pss <= rss, $"PSS {pss} > RSS {rss}");
        Assert.True(uss <= pss, $"USS {uss} > PSS {pss}");
        Assert.Equal(rss, uss + process.GetProperty("shared").GetInt64());
        AssertTotalsAreSums(report.RootElement);
        Assert.Empty(report.RootElement.GetProperty("failures").EnumerateArray());
    }

    [Fact]
    public async Task MemTree_ProcessWithAChild_ListsBothWithTheChildIndentedUnderIt()
    {
        using Process child = StartChild("sleep", "30");
        try
        {
            (int exitCode, string output, string error) = await RunAsync("mem", "--tree", Self);

            Assert.True(exitCode == MpCommandLine.Success, $"exit code {exitCode}; stderr: {error}");
            string[] lines = Lines(output);
            int parentLine = Array.FindIndex(lines, l => l.TrimStart().StartsWith(Self + " ", StringComparison.Ordinal));
            int childLine = Array.FindIndex(lines, l => l.TrimStart().StartsWith(child.Id.ToString(CultureInfo.InvariantCulture) + " ", StringComparison.Ordinal));
            Assert.True(parentLine >= 0, $"no row for this process ({Self}):\n{output}");
            Assert.True(childLine > parentLine, $"no row for the child {child.Id} below this process ({Self}):\n{output}");
            Assert.Contains(@"\_ sleep 30", lines[childLine], StringComparison.Ordinal);
            Assert.Contains(lines, l => l.Contains(" processes)", StringComparison.Ordinal));
        }
        finally
        {
            child.Kill();
        }
    }

    [Fact]
    public async Task MemTreeJson_ChildWhoseNameHasParentheses_IsListedWithThisProcessAsParent()
    {
        // /proc/PID/stat puts the name in parentheses before the parent id; a name that holds
        // ") (" is how a naive split reads the wrong parent.
        string directory = Directory.CreateTempSubdirectory("mp-mem-").FullName;
        string odd = Path.Combine(directory, "a) (b 1");
        File.CreateSymbolicLink(odd, "/bin/sleep");
        using Process child = StartChild(odd, "30");
        try
        {
            (int exitCode, string output, string error) = await RunAsync("mem", "--tree", "--json", Self);

            Assert.True(exitCode == MpCommandLine.Success, $"exit code {exitCode}; stderr: {error}");
            using JsonDocument report = JsonDocument.Parse(output);
            JsonElement[] processes = [.. report.RootElement.GetProperty("processes").EnumerateArray()];
            Assert.Equal(Environment.ProcessId, processes[0].GetProperty("pid").GetInt32());
            JsonElement listed = Assert.Single(processes, p => p.GetProperty("pid").GetInt32() == child.Id);
            Assert.Equal(Environment.ProcessId, listed.GetProperty("parentPid").GetInt32());
            Assert.Equal("a) (b 1 30", listed.GetProperty("command").GetString());
            AssertTotalsAreSums(report.RootElement);
        }
        finally
        {
            child.Kill();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Mem_PidThatDoesNotExist_OneLineOnStderrAndExitCode1()
    {
        (int exitCode, string output, string error) = await RunAsync("mem", Missing);

        Assert.Equal(MpCommandLine.Failure, exitCode);
        Assert.Equal("", output);
        Assert.Equal($"mp mem: there is no process with id {Missing}.", Assert.Single(Lines(error)));
    }

    [Fact]
    public async Task Mem_OneOfTwoPidsDoesNotExist_ShowsTheOtherAndNamesTheMissingOne()
    {
        (int exitCode, string output, string error) = await RunAsync("mem", Missing, Self);

        Assert.Equal(MpCommandLine.Success, exitCode);
        Assert.Contains(Lines(output), l => l.TrimStart().StartsWith(Self + " ", StringComparison.Ordinal));
        Assert.DoesNotContain(Missing, output, StringComparison.Ordinal);
        Assert.Equal($"mp mem: there is no process with id {Missing}.", Assert.Single(Lines(error)));
    }

    [Fact]
    public async Task MemJson_PidThatDoesNotExist_ListedAsAFailure()
    {
        (int exitCode, string output, _) = await RunAsync("mem", "--json", Missing);

        Assert.Equal(MpCommandLine.Failure, exitCode);
        using JsonDocument report = JsonDocument.Parse(output);
        Assert.Empty(report.RootElement.GetProperty("processes").EnumerateArray());
        JsonElement failure = Assert.Single(report.RootElement.GetProperty("failures").EnumerateArray());
        Assert.Equal(int.Parse(Missing, CultureInfo.InvariantCulture), failure.GetProperty("pid").GetInt32());
    }

    [Theory]
    [InlineData("", "No process id")]
    [InlineData("--tree", "No process id")]
    [InlineData("abc", "'abc' is not a process id")]
    [InlineData("12x", "'12x' is not a process id")]
    [InlineData("0", "'0' is not a process id")]
    [InlineData("-5", "'-5' is not a process id")]
    [InlineData("99999999999", "'99999999999' is not a process id")]
    [InlineData("--bogus 1", "'--bogus'")]
    [InlineData("--watch 0 1", "--watch: '0' is not a number of seconds greater than 0")]
    [InlineData("--watch -1 1", "--watch: '-1' is not a number of seconds greater than 0")]
    [InlineData("--watch soon 1", "--watch: 'soon' is not a number of seconds")]
    [InlineData("1 --watch", "'--watch'")]
    public async Task Mem_BadArguments_OneLineAndExitCode2(string arguments, string expected)
    {
        (int exitCode, string output, string error) = await RunAsync(["mem", .. arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);

        Assert.Equal(MpCommandLine.UsageError, exitCode);
        Assert.Equal("", output);
        string line = Assert.Single(Lines(error));
        Assert.StartsWith("mp mem: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.EndsWith("Run 'mp mem --help' for usage.", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MemWatch_WatchedProcessExits_RedrewAtLeastTwiceThenExitsWithSuccess()
    {
        using Process watched = StartChild("sleep", "30");
        using RunningMp mp = StartMp("mem", "--watch", "0.2", watched.Id.ToString(CultureInfo.InvariantCulture));
        try
        {
            await mp.WaitForFramesAsync(2);
            watched.Kill();

            await WaitForExitAsync(mp.Process);
            Assert.True(mp.Process.ExitCode == MpCommandLine.Success, $"exit code {mp.Process.ExitCode}; stderr: {mp.Error}");
            Assert.Contains("every watched process has exited", mp.Error, StringComparison.Ordinal);
            Assert.Contains(Lines(mp.Output), l => l.Contains("sleep 30", StringComparison.Ordinal));
        }
        finally
        {
            KillIfRunning(mp.Process);
            KillIfRunning(watched);
        }
    }

    [Fact]
    public async Task MemWatch_Sigterm_StopsQuietlyWithSuccess()
    {
        using RunningMp mp = StartMp("mem", "--watch", "0.2", "--tree", Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        try
        {
            await mp.WaitForFramesAsync(2);
            using (Process kill = Process.Start("kill", ["-TERM", mp.Process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            await WaitForExitAsync(mp.Process);
            Assert.True(mp.Process.ExitCode == MpCommandLine.Success, $"exit code {mp.Process.ExitCode}; stderr: {mp.Error}");
            Assert.Equal("", mp.Error);
        }
        finally
        {
            KillIfRunning(mp.Process);
        }
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        int exitCode = await MpCommandLine.RunAsync(args, output, error);
        return (exitCode, output.ToString(), error.ToString());
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static void AssertTotalsAreSums(JsonElement report)
    {
        JsonElement[] processes = [.. report.GetProperty("processes").EnumerateArray()];
        JsonElement total = report.GetProperty("total");
        Assert.Equal(processes.Length, total.GetProperty("processes").GetInt32());
        foreach (string figure in new[] { "rss", "pss", "uss", "shared", "swap" })
        {
            Assert.Equal(processes.Sum(p => p.GetProperty(figure).GetInt64()), total.GetProperty(figure).GetInt64());
        }
    }

    private static Process StartChild(string program, string argument) =>
        Process.Start(new ProcessStartInfo(program, [argument]) { UseShellExecute = false })
        ?? throw new InvalidOperationException($"{program} did not start");

    private static void KillIfRunning(Process process)
    {
        try
        {
            process.Kill();
        }
        catch (InvalidOperationException)
        {
            // It has exited: nothing to clean up.
        }
    }

    private static async Task WaitForExitAsync(Process process)
    {
        using var bound = new CancellationTokenSource(Bounds.Unexpected);
        try
        {
            await process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"mp (pid {process.Id}) did not exit within {Bounds.Unexpected.TotalSeconds:0} s");
        }
    }

    /// <summary>Starts the real <c>mp</c> (built next to the tests) with its output captured line by line.</summary>
    private static RunningMp StartMp(params string[] args)
    {
        string mp = Path.Combine(AppContext.BaseDirectory, "mp.dll");
        string dotnet = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet"
            ? Environment.ProcessPath!
            : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var info = new ProcessStartInfo(dotnet, ["exec", mp, .. args])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        return new RunningMp(Process.Start(info) ?? throw new InvalidOperationException("mp did not start"));
    }

    private sealed class RunningMp : IDisposable
    {
        private readonly System.Text.StringBuilder _output = new();
        private readonly System.Text.StringBuilder _error = new();

        public RunningMp(Process process)
        {
            Process = process;
            process.OutputDataReceived += (_, e) => Append(_output, e.Data);
            process.ErrorDataReceived += (_, e) => Append(_error, e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public Process Process { get; }

        public string Output { get { lock (_output) { return _output.ToString(); } } }

        public string Error { get { lock (_error) { return _error.ToString(); } } }

        public void Dispose() => Process.Dispose();

        private static void Append(System.Text.StringBuilder text, string? line)
        {
            if (line is not null)
            {
                lock (text)
                {
                    text.Append(line).Append('\n');
                }
            }
        }

        /// <summary>Waits until <paramref name="count"/> refreshes have been written, each starting with its header line.</summary>
        public async Task WaitForFramesAsync(int count)
        {
            int Frames() => Lines(Output).Count(l => l.StartsWith("mp mem, every", StringComparison.Ordinal));
            await Wait.UntilAsync(() => Frames() >= count || Process.HasExited, $"mp mem --watch wrote {count} refreshes");
            Assert.True(Frames() >= count, $"mp mem --watch exited after {Frames()} refreshes; stdout: {Output}; stderr: {Error}");
        }
    }
}
