namespace Multiprocessing;

/// <summary>
/// The memory of a <see cref="ProcessPool"/>: the process that owns it and each of its workers, as
/// returned by <see cref="ProcessPool.GetMemoryUsage"/>. All figures in bytes.
/// </summary>
/// <remarks>
/// <see cref="TotalPss"/> is the figure to compare: it divides pages shared between the parent and
/// the workers (runtime code, shared arrays) among them, so it is what the whole pool costs.
/// <see cref="TotalRss"/> counts such pages once per process and overstates it.
/// </remarks>
public sealed record PoolMemoryUsage
{
    /// <summary>The process that owns the pool (the current process).</summary>
    public required MemoryUsage Parent { get; init; }

    /// <summary>Each worker that was running when the figures were read.</summary>
    public required IReadOnlyList<MemoryUsage> Workers { get; init; }

    /// <summary>Sum of <see cref="MemoryUsage.Pss"/> over the parent and the workers: what the pool costs in RAM.</summary>
    public long TotalPss => Parent.Pss + Workers.Sum(w => w.Pss);

    /// <summary>Sum of <see cref="MemoryUsage.Uss"/> over the parent and the workers: the memory none of them shares.</summary>
    public long TotalUss => Parent.Uss + Workers.Sum(w => w.Uss);

    /// <summary>Sum of <see cref="MemoryUsage.Rss"/> over the parent and the workers; counts shared pages once per process.</summary>
    public long TotalRss => Parent.Rss + Workers.Sum(w => w.Rss);
}
