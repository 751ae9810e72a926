using BenchmarkDotNet.Attributes;

namespace Multiprocessing.Benchmarks;

/// <summary>
/// <see cref="ProcessPool.MapAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
/// of a trivial method on a warm pool of two workers. Results are per item (OperationsPerInvoke).
/// </summary>
[MemoryDiagnoser]
public class MapBenchmarks
{
    private const int AutomaticItems = 200_000;
    private const int SingleItems = 20_000;

    private static readonly MapOptions s_chunkOfOne = new() { ChunkSize = 1 };

    private ProcessPool _pool = null!;
    private int[] _automaticInput = null!;
    private int[] _singleInput = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        _pool.WaitForWorkersAsync().GetAwaiter().GetResult();
        _automaticInput = Enumerable.Range(0, AutomaticItems).ToArray();
        _singleInput = Enumerable.Range(0, SingleItems).ToArray();
        // The first map teaches the workers the method and lets the pool measure its cost.
        _pool.MapAsync(Workloads.Double, _singleInput).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    /// <summary>Automatic chunks (about four per worker for an input of known length), like <c>Pool.map</c>.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = AutomaticItems)]
    public Task<int[]> AutomaticChunks() => _pool.MapAsync(Workloads.Double, _automaticInput);

    /// <summary>One item per message: the pool's per-task overhead, like <c>Pool.map(chunksize=1)</c>.</summary>
    [Benchmark(OperationsPerInvoke = SingleItems)]
    public Task<int[]> ChunkSizeOne() => _pool.MapAsync(Workloads.Double, _singleInput, s_chunkOfOne);
}
