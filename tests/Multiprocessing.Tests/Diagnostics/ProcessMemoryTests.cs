using System.Diagnostics;

namespace Multiprocessing.Tests.Diagnostics;

/// <summary>Memory figures read from the kernel: sane for this process, precise errors for others, and per worker for a pool.</summary>
// The USS test measures this test process: other tests allocating or collecting beside it blur the figure.
[Collection(Sharing.MemoryFootprintCollection.Name)]
public sealed class ProcessMemoryTests
{
    private const long MiB = 1 << 20;

    [Fact]
    public void ReadCurrent_ThisProcess_FiguresAreConsistent()
    {
        MemoryUsage usage = ProcessMemory.ReadCurrent();

        Assert.Equal(Environment.ProcessId, usage.ProcessId);
        Assert.True(usage.Rss > 0, $"RSS is {usage.Rss}");
        Assert.True(usage.Pss <= usage.Rss, $"PSS {usage.Pss} > RSS {usage.Rss}");
        Assert.True(usage.Uss <= usage.Pss, $"USS {usage.Uss} > PSS {usage.Pss}");
        Assert.True(usage.Uss <= usage.Rss, $"USS {usage.Uss} > RSS {usage.Rss}");
        Assert.Equal(usage.Rss, usage.Shared + usage.Uss);
        Assert.Equal(usage.PrivateClean + usage.PrivateDirty, usage.Uss);
        Assert.Equal(usage.SharedClean + usage.SharedDirty, usage.Shared);
        long[] all =
        [
            usage.Rss, usage.Pss, usage.SharedClean, usage.SharedDirty, usage.PrivateClean, usage.PrivateDirty,
            usage.Referenced, usage.Anonymous, usage.LazyFree, usage.AnonHugePages, usage.ShmemPmdMapped,
            usage.SharedHugetlb, usage.PrivateHugetlb, usage.Swap, usage.SwapPss, usage.Locked,
        ];
        Assert.All(all, figure => Assert.True(figure >= 0));
        Assert.All(all, figure => Assert.Equal(0, figure % 1024));
    }

    [Fact]
    public void Read_ProcessHasExited_ThrowsArgumentExceptionNamingThePid()
    {
        int pid;
        using (var process = Process.Start(new ProcessStartInfo("/bin/true") { UseShellExecute = false })!)
        {
            Assert.True(process.WaitForExit(Bounds.Unexpected), "/bin/true did not exit");
            pid = process.Id;
        }

        ArgumentException error = Assert.Throws<ArgumentException>(() => ProcessMemory.Read(pid));
        Assert.Contains($"no process with id {pid}", error.Message);
        Assert.False(ProcessMemory.TryRead(pid, out MemoryUsage? usage));
        Assert.Null(usage);
    }

    [Fact]
    public void Read_InvalidPid_ThrowsArgumentException()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => ProcessMemory.Read(-5));
        Assert.Contains("no process with id -5", error.Message);
    }

    [Fact]
    public void ReadCurrent_After64MiBAreTouched_UssRisesByAtLeast60MiB()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = ProcessMemory.ReadCurrent().Uss;

        byte[] block = new byte[64 * MiB];
        Array.Fill(block, (byte)1);
        long after = ProcessMemory.ReadCurrent().Uss;
        GC.KeepAlive(block);

        Assert.True(after - before >= 60 * MiB, $"USS rose by {(after - before) / (double)MiB:0.0} MiB ({before} -> {after} bytes), expected at least 60 MiB.");
    }

    [Fact]
    public void Parse_KernelReport_ReadsEveryFieldInBytesAndOlderKernelsGiveNull()
    {
        const string report = """
            555fab381000-7ffe98e40000 ---p 00000000 00:00 0                          [rollup]
            Rss:                1716 kB
            Pss:                 597 kB
            Shared_Clean:       1536 kB
            Shared_Dirty:          4 kB
            Private_Clean:        64 kB
            Private_Dirty:       116 kB
            Referenced:         1700 kB
            Anonymous:           116 kB
            LazyFree:              1 kB
            AnonHugePages:         2 kB
            ShmemPmdMapped:        3 kB
            Shared_Hugetlb:        5 kB
            Private_Hugetlb:       6 kB
            Swap:                  7 kB
            SwapPss:               8 kB
            Locked:                9 kB
            Future_Field:         10 kB

            """;

        MemoryUsage usage = ProcessMemory.Parse(42, report);

        Assert.Equal(42, usage.ProcessId);
        Assert.Equal(1716 * 1024, usage.Rss);
        Assert.Equal(597 * 1024, usage.Pss);
        Assert.Equal((64 + 116) * 1024, usage.Uss);
        Assert.Equal((1536 + 4) * 1024, usage.Shared);
        Assert.Equal(1700 * 1024, usage.Referenced);
        Assert.Equal(9 * 1024, usage.Locked);
        Assert.Equal(8 * 1024, usage.SwapPss);
        Assert.Null(usage.PssAnon);
        Assert.Null(usage.PssFile);
        Assert.Null(usage.PssShmem);
        Assert.Null(usage.PssDirty);
        Assert.Null(usage.FilePmdMapped);
        Assert.Null(usage.Ksm);
    }

    [Theory]
    [InlineData("Rss: 12 MB\n", "unexpected line 1")]
    [InlineData("Rss: lots kB\n", "unexpected line 1")]
    [InlineData("garbage\n", "unexpected line 1")]
    [InlineData("Rss: 12 kB\n", "no Pss line")]
    [InlineData("", "no fields at all")]
    public void Parse_UnexpectedContent_ThrowsInvalidDataExceptionSayingWhat(string report, string expected)
    {
        InvalidDataException error = Assert.Throws<InvalidDataException>(() => ProcessMemory.Parse(42, report));
        Assert.Contains(expected, error.Message);
        Assert.Contains("42", error.Message);
    }

    [Fact]
    public async Task GetMemoryUsage_TwoWorkers_ReportsEachWorkerAndTotals()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
        int[] pids = pool.WorkerProcessIds.Order().ToArray();

        PoolMemoryUsage usage = pool.GetMemoryUsage();

        Assert.Equal(2, pids.Length);
        Assert.Equal(Environment.ProcessId, usage.Parent.ProcessId);
        Assert.Equal(pids, usage.Workers.Select(w => w.ProcessId).Order().ToArray());
        Assert.All(usage.Workers, w => Assert.True(w.Rss > 0, $"worker {w.ProcessId} has RSS {w.Rss}"));
        Assert.Equal(usage.Parent.Pss + usage.Workers.Sum(w => w.Pss), usage.TotalPss);
        Assert.Equal(usage.Parent.Uss + usage.Workers.Sum(w => w.Uss), usage.TotalUss);
        Assert.Equal(usage.Parent.Rss + usage.Workers.Sum(w => w.Rss), usage.TotalRss);
    }

    [Fact]
    public async Task GetMemoryUsage_AfterDispose_ThrowsObjectDisposedException()
    {
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        await pool.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => pool.GetMemoryUsage());
    }
}
