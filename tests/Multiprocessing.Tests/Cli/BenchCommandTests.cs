using System.Xml.Linq;
using Multiprocessing.Cli;

namespace Multiprocessing.Tests.Cli;

/// <summary>
/// <c>mp bench</c> run in-process: bad arguments are one-line usage errors, and the cheapest group
/// (the in-process CPU-bound speed-up, with the CPython peer pointed at a missing interpreter so it
/// takes seconds) writes a report with the machine header, a table and a chart, and logs its progress
/// on stderr. No timing is asserted.
/// </summary>
public sealed class BenchCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mp-bench-test-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("--only", "bogus")]
    [InlineData("--only", "pool,nope")]
    [InlineData("--only")]
    [InlineData("--only", ",")]
    [InlineData("--bogus")]
    [InlineData("--out")]
    public async Task Bench_BadArguments_OneLineAndExitCode2(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = await MpCommandLine.RunAsync(["bench", .. args], output, error);
        Assert.Equal(MpCommandLine.UsageError, exitCode);
        Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("mp bench: ", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
        Assert.Equal("", output.ToString());
    }

    [Fact]
    public async Task Bench_OutIsAFolder_OneLineAndExitCode2()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = await MpCommandLine.RunAsync(["bench", "--out", _directory], output, error);
        Assert.Equal(MpCommandLine.UsageError, exitCode);
        Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("is a folder", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bench_QuickSpeedupOnly_WritesReportWithMachineHeaderTableAndChart()
    {
        string report = Path.Combine(_directory, "BENCHMARKS.md");
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = await MpCommandLine.RunAsync(
            ["bench", "--quick", "--only", "speedup", "--python", Path.Combine(_directory, "no-python3"), "--out", report], output, error)
            .WaitAsync(TimeSpan.FromMinutes(2));

        Assert.True(exitCode == MpCommandLine.Success, $"exit code {exitCode}; stderr: {error}");
        Assert.Contains(report, output.ToString(), StringComparison.Ordinal);
        string text = await File.ReadAllTextAsync(report);
        Assert.Contains("* Machine: ", text, StringComparison.Ordinal);
        Assert.Contains(" cores (nproc), CPU ", text, StringComparison.Ordinal);
        Assert.Contains("* Runtimes: .NET", text, StringComparison.Ordinal);
        Assert.Contains("* Command: `mp bench --quick --only speedup", text, StringComparison.Ordinal);
        Assert.Contains("| | Measure | Ours | Peer | Peer figure | Ours ÷ peer | DESIGN §5 target | Met |", text, StringComparison.Ordinal);
        Assert.Contains("peer missing", text, StringComparison.Ordinal);
        Assert.Contains("not run (--only)", text, StringComparison.Ordinal);
        Assert.Contains("## Open gaps", text, StringComparison.Ordinal);
        // Groups left out are listed as not measured, never as met.
        Assert.Contains("Not measured in this run", text, StringComparison.Ordinal);
        string chart = Path.Combine(_directory, "images", "bench-speedup.svg");
        Assert.Contains("](images/bench-speedup.svg)", text, StringComparison.Ordinal);
        XDocument svg = XDocument.Load(chart);
        Assert.Contains("ProcessPool", svg.ToString(), StringComparison.Ordinal);
        // Its progress went to stderr (the log): which group of how many, the time so far and the time left.
        Assert.Contains("== group 1 of 1, speedup: ", error.ToString(), StringComparison.Ordinal);
        Assert.Matches(@"\[1/1 speedup \d+:\d\d, ~\d+:\d\d left\] speedup: round 1/", error.ToString());
    }
}
