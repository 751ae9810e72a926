using System.Diagnostics;
using System.Runtime.CompilerServices;
using Multiprocessing.Cli.Jobs;

namespace Multiprocessing.Cli.Experiments;

/// <summary>What <see cref="SpeedupExperiment"/> runs.</summary>
/// <param name="Size">Primes are counted in [0, Size).</param>
/// <param name="Items">How many ranges (pool tasks) the job is split into.</param>
/// <param name="WorkerCounts">Pool sizes to try, in order.</param>
public sealed record SpeedupSettings(int Size, int Items, IReadOnlyList<int> WorkerCounts);

/// <summary>One line of the speed-up table.</summary>
/// <param name="Workers">Worker processes in the pool; 0 for the serial, in-process baseline.</param>
/// <param name="StartTime">From creating the pool until every worker was ready (started and warmed up by <see cref="PrimeCounting.WarmUp"/>); zero for the baseline.</param>
/// <param name="Elapsed">Wall time of the job itself, on a started pool.</param>
/// <param name="SpeedUp">Baseline time divided by <paramref name="Elapsed"/>.</param>
/// <param name="Primes">Primes found.</param>
/// <param name="Agrees">Every range's count equals the baseline's.</param>
public sealed record SpeedupRow(int Workers, TimeSpan StartTime, TimeSpan Elapsed, double SpeedUp, long Primes, bool Agrees)
{
    /// <summary>Whether this is the serial, in-process baseline.</summary>
    public bool IsBaseline => Workers == 0;
}

/// <summary>
/// The CPU-bound speed-up experiment of <c>mp demo</c> and <c>mp bench</c>: the same prime-counting
/// job run serially in this process, then on process pools of several sizes, timing each and
/// checking that every run finds exactly what the serial run found. <c>mp bench</c> runs the same
/// job through <see cref="SpeedupJob"/> in rounds, beside <c>Parallel.For</c> and CPython.
/// </summary>
public static class SpeedupExperiment
{
    /// <summary>Runs the experiment, yielding the baseline first and then one row per pool size as each finishes.</summary>
    /// <param name="settings">Job size and pool sizes.</param>
    /// <param name="cancellationToken">Stops the experiment.</param>
    /// <returns>The rows, as they are measured.</returns>
    /// <exception cref="WorkerStartException">A pool's workers could not start.</exception>
    /// <exception cref="WorkerException">A task failed in a worker.</exception>
    public static async IAsyncEnumerable<SpeedupRow> RunAsync(SpeedupSettings settings, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var job = new SpeedupJob(settings.Size, settings.Items);

        // On a pool thread, so the caller's thread stays free to notice Ctrl+C while this runs.
        (TimeSpan serial, int[] expected) = await Task.Run(() => job.RunSerial(cancellationToken), cancellationToken).ConfigureAwait(false);
        long primes = expected.Sum(c => (long)c);
        yield return new SpeedupRow(0, TimeSpan.Zero, serial, 1.0, primes, Agrees: true);

        foreach (int workers in settings.WorkerCounts)
        {
            var clock = Stopwatch.StartNew();
            await using ProcessPool pool = await SpeedupJob.StartPoolAsync(workers, job, cancellationToken).ConfigureAwait(false);
            TimeSpan start = clock.Elapsed;
            (TimeSpan elapsed, int[] counts) = await job.RunOnPoolAsync(pool, cancellationToken).ConfigureAwait(false);
            yield return new SpeedupRow(workers, start, elapsed, serial / elapsed, counts.Sum(c => (long)c), counts.AsSpan().SequenceEqual(expected));
        }
    }
}

/// <summary>
/// The speed-up job: count the primes in [0, size) by trial division, split into ranges (one task
/// each), and the ways to run it: serially, with an in-process <c>Parallel.For</c>, on a started pool.
/// </summary>
internal sealed class SpeedupJob(int size, int items)
{
    /// <summary>The ranges, one task each.</summary>
    public NumberRange[] Ranges { get; } = PrimeCounting.Split(size, items);

    /// <summary>Counts every range in this thread, one after another.</summary>
    public (TimeSpan Elapsed, int[] Counts) RunSerial(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        int[] counts = new int[Ranges.Length];
        for (int i = 0; i < Ranges.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            counts[i] = PrimeCounting.Count(Ranges[i]);
        }
        return (clock.Elapsed, counts);
    }

    /// <summary>Counts the ranges with <c>Parallel.For</c> on at most <paramref name="threads"/> threads of this process.</summary>
    public (TimeSpan Elapsed, int[] Counts) RunParallelFor(int threads, CancellationToken cancellationToken)
    {
        int[] counts = new int[Ranges.Length];
        NumberRange[] ranges = Ranges;
        var clock = Stopwatch.StartNew();
        Parallel.For(0, ranges.Length, new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = cancellationToken }, i => counts[i] = PrimeCounting.Count(ranges[i]));
        return (clock.Elapsed, counts);
    }

    /// <summary>A pool of <paramref name="workers"/>, started, its workers warmed up, and one tiny map run.</summary>
    /// <exception cref="WorkerStartException">The workers could not start.</exception>
    public static async Task<ProcessPool> StartPoolAsync(int workers, SpeedupJob job, CancellationToken cancellationToken)
    {
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = workers, Initializer = PrimeCounting.WarmUp });
        try
        {
            await pool.WaitForWorkersAsync(cancellationToken).ConfigureAwait(false);
            // A tiny map first, so that this process's own first-use costs (JIT of the map path,
            // first messages) count as start-up and not as the first pool size's wall time.
            await pool.MapAsync(PrimeCounting.Count, job.Ranges.Take(workers).Select(r => r with { End = Math.Min(r.End, r.Start + 100) }), new MapOptions { ChunkSize = 1 }, cancellationToken).ConfigureAwait(false);
            return pool;
        }
        catch
        {
            await pool.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Counts the ranges on <paramref name="pool"/>.</summary>
    public async Task<(TimeSpan Elapsed, int[] Counts)> RunOnPoolAsync(ProcessPool pool, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        // Each range is a large task, so one range per message costs nothing measurable and
        // balances best: ranges of large numbers take longer than ranges of small ones.
        int[] counts = await pool.MapAsync(PrimeCounting.Count, Ranges, new MapOptions { ChunkSize = 1 }, cancellationToken).ConfigureAwait(false);
        return (clock.Elapsed, counts);
    }
}
