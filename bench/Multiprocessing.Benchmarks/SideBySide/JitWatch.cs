using System.Diagnostics;
using System.Runtime;

namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>
/// Watches this process's JIT during a warm-up: sets its flag in a shared array to 1 while no
/// method has been compiled for <see cref="QuietMs"/>, to 0 as soon as one is. The producers warm up
/// until every flag is 1, so the timed part runs tier-1 code in every process.
/// </summary>
/// <remarks>
/// Tiering promotes a method after 30 calls, but only once no tier-0 compile has happened for
/// 100 ms, and compiles it on one background thread that competes for the core like any other;
/// with PGO a hot method is compiled twice (instrumented, then final). Half a second without a
/// compile is well past all of that. A dedicated thread, not a timer: it must look even while the
/// thread pool is busy with the warm-up.
/// </remarks>
internal sealed class JitWatch : IDisposable
{
    public const int QuietMs = 500;

    private readonly SharedArray<int> _flags;
    private readonly int _index;
    private readonly Thread _thread;
    private volatile bool _stopped;

    private JitWatch(SharedArray<int> flags, int index)
    {
        _flags = flags;
        _index = index;
        _thread = new Thread(Watch) { IsBackground = true, Name = "jit watch" };
        _thread.Start();
    }

    public static JitWatch Start(SharedArray<int> flags, int index) => new(flags, index);

    /// <summary>Whether every process's JIT is quiet now.</summary>
    public static bool AllQuiet(SharedArray<int> flags)
    {
        for (long i = 0; i < flags.Length; i++)
        {
            if (Volatile.Read(ref flags.GetReference(i)) == 0)
            {
                return false;
            }
        }
        return true;
    }

    private void Watch()
    {
        long seen = JitInfo.GetCompiledMethodCount();
        long changed = Stopwatch.GetTimestamp();
        while (!_stopped)
        {
            Thread.Sleep(50);
            long count = JitInfo.GetCompiledMethodCount();
            long now = Stopwatch.GetTimestamp();
            if (count != seen)
            {
                seen = count;
                changed = now;
            }
            Volatile.Write(ref _flags.GetReference(_index), now - changed >= QuietMs * Stopwatch.Frequency / 1000 ? 1 : 0);
        }
    }

    /// <summary>
    /// Stops watching and sets the flag: this process's warm-up is over (its channel drained, or its
    /// own warm-up ended), so it must not hold back the producers still warming up (pipes end one by one).
    /// </summary>
    public void Dispose()
    {
        _stopped = true;
        _thread.Join();
        Volatile.Write(ref _flags.GetReference(_index), 1);
    }
}
