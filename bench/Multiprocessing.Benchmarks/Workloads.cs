namespace Multiprocessing.Benchmarks;

/// <summary>The task methods the benchmarks send to workers: as small as a task can be, so what is measured is the pool.</summary>
public static class Workloads
{
    /// <summary>The <c>x * 2</c> of the CPython peer's <c>double</c>.</summary>
    public static int Double(int x) => x * 2;
}
