using BenchmarkDotNet.Attributes;

namespace Multiprocessing.Benchmarks;

/// <summary>
/// Uncontended acquire + release: SharedLock (one compare-and-swap each way, no system call) beside
/// the in-process locks a .NET user would otherwise reach for. The baseline is System.Threading.Lock.
/// </summary>
[MemoryDiagnoser]
public class LockBenchmarks
{
    private readonly Lock _monitor = new();
    private readonly SemaphoreSlim _semaphoreSlim = new(1, 1);
    private SharedLock _shared = null!;
    private SharedSemaphore _sharedSemaphore = null!;

    [GlobalSetup]
    public void Setup()
    {
        _shared = SharedLock.Create();
        _sharedSemaphore = SharedSemaphore.Create(1, 1);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _shared.Dispose();
        _sharedSemaphore.Dispose();
        _semaphoreSlim.Dispose();
    }

    [Benchmark(Baseline = true, Description = "Lock.EnterScope (in-process)")]
    public void ThreadingLock()
    {
        using (_monitor.EnterScope())
        {
        }
    }

    [Benchmark(Description = "SemaphoreSlim Wait/Release (in-process)")]
    public void SemaphoreSlim()
    {
        _semaphoreSlim.Wait();
        _semaphoreSlim.Release();
    }

    [Benchmark(Description = "SharedLock Acquire/Dispose")]
    public void SharedLockAcquire()
    {
        using (_shared.Acquire())
        {
        }
    }

    [Benchmark(Description = "SharedLock AcquireAsync/Dispose")]
    public async Task SharedLockAcquireAsync()
    {
        using (await _shared.AcquireAsync().ConfigureAwait(false))
        {
        }
    }

    [Benchmark(Description = "SharedSemaphore Wait/Release")]
    public void SharedSemaphoreWait()
    {
        _sharedSemaphore.Wait();
        _sharedSemaphore.Release();
    }
}
