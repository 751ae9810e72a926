using System.Text.Json;
using System.Xml.Linq;
using Multiprocessing.Cli;
using Multiprocessing.Tests.Sharing;

namespace Multiprocessing.Tests.Cli;

/// <summary><c>mp demo</c> run in-process with a small dataset: its figures must tell the product's story consistently.</summary>
[Collection(MemoryFootprintCollection.Name)] // memory figures: not beside other memory-hungry tests
public sealed class DemoCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mp-demo-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Demo_SharedStaysBelowCopied_AndTheFiguresAreConsistent()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = await MpCommandLine.RunAsync(
            ["demo", "--items", "4M", "--workers", "1,2", "--size", "20000", "--tasks", "4", "--json", "--out", _directory], output, error)
            .WaitAsync(Bounds.Unexpected);
        Assert.True(exitCode == MpCommandLine.Success, $"exit code {exitCode}; stderr: {error}");

        using JsonDocument report = JsonDocument.Parse(output.ToString());
        JsonElement memory = report.RootElement.GetProperty("memory");
        long dataset = memory.GetProperty("datasetBytes").GetInt64();
        Assert.Equal(4_000_000L * sizeof(long), dataset);
        JsonElement[] runs = [.. memory.GetProperty("runs").EnumerateArray()];
        Assert.Equal(4, runs.Length);
        foreach (JsonElement run in runs)
        {
            Assert.True(run.GetProperty("agrees").GetBoolean());
            long[] pss = [run.GetProperty("parentPss").GetInt64(), .. run.GetProperty("workerPss").EnumerateArray().Select(e => e.GetInt64())];
            long[] rss = [run.GetProperty("parentRss").GetInt64(), .. run.GetProperty("workerRss").EnumerateArray().Select(e => e.GetInt64())];
            Assert.Equal(run.GetProperty("workers").GetInt32() + 1, pss.Length);
            Assert.All(pss.Zip(rss), p => Assert.True(p.First <= p.Second, $"PSS {p.First} > RSS {p.Second}"));
            Assert.Equal(pss.Sum(), run.GetProperty("totalPss").GetInt64());
        }
        long Total(string mode, int workers) => runs.Single(r => r.GetProperty("mode").GetString() == mode && r.GetProperty("workers").GetInt32() == workers).GetProperty("totalPss").GetInt64();
        // Copied at two workers holds three datasets (parent and two workers); shared holds one.
        Assert.True(Total("copied", 2) - Total("shared", 2) > dataset, $"copied {Total("copied", 2)} vs shared {Total("shared", 2)}, dataset {dataset}");
        // Measured on the workers: the demo runs in this test host, whose own PSS moves by tens of MiB
        // between runs while the suite's other work (cluster clients, their timers) allocates and
        // the GC returns memory; the claim is about what a worker adds.
        long Workers(string mode, int workers) => runs.Single(r => r.GetProperty("mode").GetString() == mode && r.GetProperty("workers").GetInt32() == workers)
            .GetProperty("workerPss").EnumerateArray().Sum(e => e.GetInt64());
        Assert.True(Workers("copied", 2) - Workers("copied", 1) > dataset / 2,
            $"a copied worker should add about one dataset: workers' PSS {Workers("copied", 1)} at one, {Workers("copied", 2)} at two, dataset {dataset}");

        string chart = memory.GetProperty("chart").GetString()!;
        Assert.Equal(Path.Combine(_directory, "mp-demo-memory.svg"), chart);
        XDocument svg = XDocument.Load(chart);
        Assert.Contains("shared", svg.ToString(), StringComparison.Ordinal);

        Assert.True(report.RootElement.GetProperty("allAgree").GetBoolean());
        Assert.Equal(2, report.RootElement.GetProperty("runs").GetArrayLength());
    }

    [Theory]
    [InlineData("--workers", "0")]
    [InlineData("--items", "0")]
    [InlineData("--bogus")]
    public async Task Demo_BadArguments_OneLineAndExitCode2(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = await MpCommandLine.RunAsync(["demo", .. args], output, error);
        Assert.Equal(MpCommandLine.UsageError, exitCode);
        Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_ItemsBeyondMemory_ClearMessageAndExitCode2()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = await MpCommandLine.RunAsync(["demo", "--items", "2_000_000_000", "--out", _directory], output, error);
        Assert.Equal(MpCommandLine.UsageError, exitCode);
        Assert.Contains("available", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("smaller --items", error.ToString(), StringComparison.Ordinal);
        Assert.Equal("", output.ToString());
    }
}
