using System.Globalization;

namespace Multiprocessing.Tests.Sharing;

/// <summary>Tests that read machine-wide memory figures run alone, so that other tests' segments do not blur them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryFootprintCollection
{
    public const string Name = "Memory footprint";
}

[Collection(MemoryFootprintCollection.Name)]
public sealed class FootprintTests
{
    private const long MiB = 1 << 20;

    [Fact]
    public async Task KilledCreator_LeavesNothingBehind()
    {
        string name = $"test-{Guid.NewGuid():N}";
        string marker = Path.Combine(Path.GetTempPath(), $"mp-marker-{Guid.NewGuid():N}");
        string[] shmBefore = Directory.GetFiles("/dev/shm");
        using var creator = WorkerProcess.Start(SharedTasks.HoldNamed, (name, 256, marker));
        try
        {
            await Wait.UntilAsync(() => File.Exists(marker), "the creator has filled its 256 MiB array");
            MemoryUsage creatorMemory = ProcessMemory.Read(creator.Id);
            Assert.True(creatorMemory.Shared + creatorMemory.Uss > 200 * MiB, $"the creator's array should be resident: {creatorMemory}");
            ulong inode;
            using (var seen = SharedArray<byte>.Open(name, readOnly: true))
            {
                Assert.Equal(256 * MiB, seen.Length);
                Assert.Equal(1, seen[seen.Length - 1]);
                inode = seen.Segment.Identity.Inode;
            }
            Assert.NotEmpty(HoldersOf(inode));
            creator.Kill();
            await creator.WaitForExitAsync().WaitAsync(Bounds.Unexpected);

            // The memory file died with its last holder: no process holds or maps it, so the kernel has freed it.
            Assert.Empty(HoldersOf(inode));
            // Nothing new in /dev/shm (entries of CPython's shared_memory and semaphores, which a benchmark
            // on the same machine may be making, are not ours).
            Assert.DoesNotContain(Directory.GetFiles("/dev/shm").Except(shmBefore),
                f => !Path.GetFileName(f).StartsWith("psm_", StringComparison.Ordinal) && !Path.GetFileName(f).StartsWith("sem.", StringComparison.Ordinal));
            // And the name went with it.
            Assert.Throws<SharedMemoryException>(() => SharedArray<byte>.Open(name));
        }
        finally
        {
            creator.Kill();
            File.Delete(marker);
        }
    }

    [Fact]
    public async Task FourWorkersReadingOneArray_CostAboutOneArray()
    {
        const long length = 256 * MiB / sizeof(double);
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 4 });
        await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
        // Warm the workers up on a tiny array, so that JIT and first-use allocations are in the baseline.
        using (var warm = SharedArray<double>.Create(16))
        {
            await pool.MapAsync(SharedTasks.SumAll, Enumerable.Repeat(warm, 8), new MapOptions { ChunkSize = 1 }).WaitAsync(Bounds.Unexpected);
        }
        PoolMemoryUsage before = pool.GetMemoryUsage();

        using var data = SharedArray<double>.Create(length);
        data.AsSpan(0, (int)length).Fill(1.0);
        // Four tasks for four workers: at least two workers read it even if one takes two tasks.
        double[] sums = await pool.MapAsync(SharedTasks.SumAll, Enumerable.Repeat(data, 4), new MapOptions { ChunkSize = 1 }).WaitAsync(Bounds.Unexpected);
        Assert.All(sums, s => Assert.Equal(length, s));
        PoolMemoryUsage after = pool.GetMemoryUsage();

        long arrayBytes = length * sizeof(double);
        long growth = after.TotalPss - before.TotalPss;
        string report = string.Create(CultureInfo.InvariantCulture,
            $"array {arrayBytes / MiB} MiB; total PSS {before.TotalPss / MiB} → {after.TotalPss / MiB} MiB (growth {growth / MiB} MiB); " +
            $"workers' PSS after: {string.Join(", ", after.Workers.Select(w => $"{w.Pss / MiB} MiB"))}");
        // Copies would cost 5 arrays (parent + 4 workers); one shared array costs one, plus a little per worker.
        Assert.True(growth < arrayBytes * 3 / 2, report);
        // And the workers did map it: each holds a proportional share of the pages it read.
        int readers = after.Workers.Count(w => w.PssShmem is null || w.PssShmem > arrayBytes / 10);
        Assert.True(readers >= 2, $"expected the workers to map the array; {report}");
    }

    /// <summary>Every process that holds a descriptor to, or maps, the memory file with this inode.</summary>
    private static List<string> HoldersOf(ulong inode)
    {
        var holders = new List<string>();
        string inodeText = inode.ToString(CultureInfo.InvariantCulture);
        foreach (string process in Directory.GetDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                if (File.ReadLines(Path.Combine(process, "maps")).Any(l => l.Contains("/memfd:", StringComparison.Ordinal)
                    && l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is { Length: > 5 } f && f[4] == inodeText))
                {
                    holders.Add($"{process} maps it");
                }
                foreach (string fd in Directory.GetFiles(Path.Combine(process, "fd")))
                {
                    if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("/memfd:mp:", StringComparison.Ordinal)
                        && Multiprocessing.Interop.Libc.TryIdentify(fd) is { } id && id.Inode == inode)
                    {
                        holders.Add($"{fd} holds it");
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A process that exited meanwhile, or one of another user.
            }
        }
        return holders;
    }
}
