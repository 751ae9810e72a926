using System.Runtime.CompilerServices;
using Multiprocessing.Cli.Jobs;

namespace Multiprocessing.Cli.Experiments;

/// <summary>How the workers of a <see cref="MemoryExperiment"/> run get the dataset.</summary>
public enum DatasetMode
{
    /// <summary>Each worker loads its own managed copy (a <c>long[]</c>), as every process of a service without shared memory does.</summary>
    Copied,

    /// <summary>One <see cref="SharedArray{T}"/>, filled once by the parent and mapped by every worker.</summary>
    Shared,
}

/// <summary>What <see cref="MemoryExperiment"/> runs.</summary>
/// <param name="Items">Elements (longs) in the dataset; at most <see cref="Array.MaxLength"/>, since copied mode holds it in a managed array.</param>
/// <param name="WorkerCounts">Worker counts to try, in order.</param>
public sealed record MemorySettings(long Items, IReadOnlyList<int> WorkerCounts)
{
    /// <summary>The dataset's own size in bytes.</summary>
    public long DatasetBytes => Items * sizeof(long);
}

/// <summary>One measurement: a mode and a worker count, with every process's memory from the kernel.</summary>
/// <param name="Mode">How the workers got the data.</param>
/// <param name="Workers">Worker processes alive, each holding the data.</param>
/// <param name="Parent">The parent's memory at the time.</param>
/// <param name="WorkerMemory">Each worker's memory.</param>
/// <param name="Agrees">Every worker read the whole dataset (its sum is right).</param>
public sealed record MemoryRow(DatasetMode Mode, int Workers, MemoryUsage Parent, IReadOnlyList<MemoryUsage> WorkerMemory, bool Agrees)
{
    /// <summary>Proportional set size of parent and workers together: what the machine really pays.</summary>
    public long TotalPss => Parent.Pss + WorkerMemory.Sum(w => w.Pss);

    /// <summary>Resident set size of parent and workers together: counts shared pages once per process, so it overstates.</summary>
    public long TotalRss => Parent.Rss + WorkerMemory.Sum(w => w.Rss);
}

/// <summary>
/// The memory half of <c>mp demo</c>, after the well-known Python write-up on copy-on-write and
/// garbage collectors: a dataset is used by 1, 2, 4, 8 workers, either as one copy per worker or as
/// one shared array, and the total proportional set size (PSS) of parent and workers is read from
/// the kernel while every worker holds the data. Copies grow by one dataset per worker; shared
/// memory stays flat at one dataset plus the workers' own small runtimes.
/// </summary>
public static class MemoryExperiment
{
    /// <summary>Bytes the experiment needs at most: the parent's dataset, plus a copy in each of the most workers, plus one spare.</summary>
    public static long PeakBytes(MemorySettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.DatasetBytes * (settings.WorkerCounts.Max() + 2);
    }

    /// <summary>Runs every worker count in copied then shared mode, yielding each measurement as it is taken.</summary>
    /// <param name="settings">Dataset size and worker counts.</param>
    /// <param name="progress">Told what is being measured, for a progress display.</param>
    /// <param name="cancellationToken">Stops the experiment.</param>
    /// <returns>The rows, as they are measured.</returns>
    public static async IAsyncEnumerable<MemoryRow> RunAsync(MemorySettings settings, IProgress<string>? progress = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        long expected = settings.Items * (settings.Items - 1) / 2;
        foreach (DatasetMode mode in new[] { DatasetMode.Copied, DatasetMode.Shared })
        {
            foreach (int workers in settings.WorkerCounts)
            {
                progress?.Report($"{mode.ToString().ToLowerInvariant()} dataset, {workers} worker{(workers == 1 ? "" : "s")}");
                yield return await MeasureAsync(mode, workers, settings.Items, expected, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static void ReleaseGarbage()
    {
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    private static async Task<MemoryRow> MeasureAsync(DatasetMode mode, int workers, long items, long expected, CancellationToken cancellationToken)
    {
        using var ready = SharedValue<int>.Create();
        using var release = SharedValue<int>.Create();
        var children = new List<WorkerProcess<long>>(workers);
        long[]? copy = null;
        SharedArray<long>? shared = null;
        try
        {
            if (mode == DatasetMode.Copied)
            {
                copy = new long[items];
                DatasetReading.Fill(copy, 0);
                for (int i = 0; i < workers; i++)
                {
                    children.Add(WorkerProcess.Start(DatasetReading.HoldCopy, ((int)items, ready, release)));
                }
            }
            else
            {
                shared = SharedArray<long>.Create(items);
                for (long start = 0; start < items; start += 1 << 24)
                {
                    DatasetReading.Fill(shared.AsSpan(start, (int)Math.Min(1 << 24, items - start)), start);
                }
                for (int i = 0; i < workers; i++)
                {
                    children.Add(WorkerProcess.Start(DatasetReading.HoldShared, (shared, ready, release)));
                }
            }
            // Every worker holds the data once it has counted itself ready; a worker that died
            // instead fails the run with its own error rather than leaving us waiting.
            while (Volatile.Read(ref ready.Value) < workers)
            {
                if (children.FirstOrDefault(c => c.HasExited) is { } dead)
                {
                    await dead.Result.ConfigureAwait(false);
                    throw new InvalidOperationException($"Worker {dead.Id} exited before it held the dataset.");
                }
                await Task.Delay(10, cancellationToken).ConfigureAwait(false);
            }
            // Measure this process as it would settle, not with garbage of the previous run that
            // the next collection would return.
            ReleaseGarbage();
            MemoryUsage parent = ProcessMemory.ReadCurrent();
            MemoryUsage[] memory = [.. children.Select(c => ProcessMemory.Read(c.Id))];
            Volatile.Write(ref release.Value, 1);
            long[] sums = await Task.WhenAll(children.Select(c => c.Result)).WaitAsync(cancellationToken).ConfigureAwait(false);
            GC.KeepAlive(copy);
            return new MemoryRow(mode, workers, parent, memory, Array.TrueForAll(sums, s => s == expected));
        }
        finally
        {
            Volatile.Write(ref release.Value, 1);
            foreach (WorkerProcess<long> child in children)
            {
                if (!child.HasExited)
                {
                    child.Kill();
                }
                child.Dispose();
            }
            shared?.Dispose();
        }
    }
}
