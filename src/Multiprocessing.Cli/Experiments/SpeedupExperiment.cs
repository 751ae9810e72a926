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
/// The CPU-bound part of <c>mp demo</c>: the same prime-counting job run serially in this process,
/// then on process pools of several sizes, timing each and checking that every run finds exactly
/// what the serial run found.
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
        NumberRange[] ranges = PrimeCounting.Split(settings.Size, settings.Items);

        // On a pool thread, so the caller's thread stays free to notice Ctrl+C while this runs.
        (TimeSpan serial, int[] expected) = await Task.Run(() => RunSerial(ranges, cancellationToken), cancellationToken).ConfigureAwait(false);
        long primes = expected.Sum(c => (long)c);
        yield return new SpeedupRow(0, TimeSpan.Zero, serial, 1.0, primes, Agrees: true);

        foreach (int workers in settings.WorkerCounts)
        {
            (TimeSpan start, TimeSpan elapsed, int[] counts) = await RunOnPoolAsync(workers, ranges, cancellationToken).ConfigureAwait(false);
            yield return new SpeedupRow(workers, start, elapsed, serial / elapsed, counts.Sum(c => (long)c), counts.AsSpan().SequenceEqual(expected));
        }
    }

    private static (TimeSpan Elapsed, int[] Counts) RunSerial(NumberRange[] ranges, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        int[] counts = new int[ranges.Length];
        for (int i = 0; i < ranges.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            counts[i] = PrimeCounting.Count(ranges[i]);
        }
        return (clock.Elapsed, counts);
    }

    private static async Task<(TimeSpan Start, TimeSpan Elapsed, int[] Counts)> RunOnPoolAsync(int workers, NumberRange[] ranges, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = workers, Initializer = PrimeCounting.WarmUp });
        await pool.WaitForWorkersAsync(cancellationToken).ConfigureAwait(false);
        // One tiny map first, so that this process's own first-use costs (JIT of the map path,
        // first messages) count as start-up and not as the first pool size's wall time.
        await pool.MapAsync(PrimeCounting.Count, ranges.Take(1).Select(r => r with { End = r.Start }), new MapOptions { ChunkSize = 1 }, cancellationToken).ConfigureAwait(false);
        TimeSpan start = clock.Elapsed;
        clock.Restart();
        // Each range is a large task, so one range per message costs nothing measurable and
        // balances best: ranges of large numbers take longer than ranges of small ones.
        int[] counts = await pool.MapAsync(PrimeCounting.Count, ranges, new MapOptions { ChunkSize = 1 }, cancellationToken).ConfigureAwait(false);
        return (start, clock.Elapsed, counts);
    }
}
