using BenchmarkDotNet.Attributes;

namespace Multiprocessing.Benchmarks;

/// <summary>
/// One <see cref="ProcessPool.SubmitAsync{T, TResult}(Func{T, TResult}, T, CancellationToken)"/> awaited
/// at a time on a warm pool of two workers: the submit-to-result round trip. The baseline is the
/// same call on the thread pool of this process, the cost without a process boundary.
/// </summary>
[MemoryDiagnoser]
public class SubmitBenchmarks
{
    private ProcessPool _pool = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        _pool.WaitForWorkersAsync().GetAwaiter().GetResult();
        for (int i = 0; i < 1000; i++)
        {
            _pool.SubmitAsync(Workloads.Double, i).GetAwaiter().GetResult();
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    /// <summary>The same method on this process's thread pool.</summary>
    [Benchmark(Baseline = true)]
    public Task<int> ThreadPoolRoundTrip() => Task.Run(() => Workloads.Double(_next++));

    /// <summary>Submit to a worker process and await its result.</summary>
    [Benchmark]
    public Task<int> SubmitRoundTrip() => _pool.SubmitAsync(Workloads.Double, _next++);
}
