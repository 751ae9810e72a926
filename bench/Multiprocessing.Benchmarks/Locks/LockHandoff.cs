using System.Diagnostics;
using System.Text.Json;

namespace Multiprocessing.Benchmarks.Locks;

/// <summary>What the hand-off child needs: the three locks, a ready signal, and how many steps to take.</summary>
public sealed record HandoffArguments(SharedLock L0, SharedLock L1, SharedLock L2, SharedEvent Ready, int Steps);

/// <summary>
/// Two processes hand three SharedLocks around so that they strictly alternate, the same pattern as
/// bench/python/lock_peer.py: the parent holds L0 and L1, the child L2; in step k the parent releases
/// L[k % 3] and acquires L[(k + 2) % 3], the child acquires L[k % 3] and releases L[(k + 2) % 3].
/// A parent step is one round trip: two contended hand-offs, each a release that the other process
/// is waiting for, like the two wake-ups of the C futex ping-pong.
/// </summary>
internal static class LockHandoff
{
    /// <summary>The child's side; runs in a <see cref="WorkerProcess"/>.</summary>
    public static void Child(HandoffArguments a)
    {
        SharedLock[] locks = [a.L0, a.L1, a.L2];
        var held = new LockReleaser?[3];
        held[2] = locks[2].Acquire();
        a.Ready.Set();
        for (int k = 0; k < a.Steps; k++)
        {
            held[k % 3] = locks[k % 3].Acquire();
            held[(k + 2) % 3]!.Dispose();
        }
        foreach (LockReleaser? releaser in held)
        {
            releaser?.Dispose();
        }
    }

    /// <summary>Runs <paramref name="steps"/> round trips against a fresh child; latencies in microseconds, sorted.</summary>
    public static async Task<double[]> RunAsync(int steps, bool cold)
    {
        using var l0 = SharedLock.Create();
        using var l1 = SharedLock.Create();
        using var l2 = SharedLock.Create();
        using var ready = SharedEvent.Create(manualReset: true);
        SharedLock[] locks = [l0, l1, l2];
        var held = new LockReleaser?[3];
        held[0] = l0.Acquire();
        held[1] = l1.Acquire();
        using var child = WorkerProcess.Start(Child, new HandoffArguments(l0, l1, l2, ready, steps));
        await ready.WaitAsync(TimeSpan.FromMinutes(1)).ConfigureAwait(false);
        double[] latencies = new double[steps];
        double toMicroseconds = 1e6 / Stopwatch.Frequency;
        // Measure on a dedicated thread, as the C and Python peers do on their main thread.
        var thread = new Thread(() =>
        {
            for (int k = 0; k < steps; k++)
            {
                if (cold)
                {
                    SpinFor(TimeSpan.FromMicroseconds(200));
                }
                long start = Stopwatch.GetTimestamp();
                held[k % 3]!.Dispose();
                held[(k + 2) % 3] = locks[(k + 2) % 3].Acquire();
                latencies[k] = (Stopwatch.GetTimestamp() - start) * toMicroseconds;
            }
        });
        thread.Start();
        thread.Join();
        foreach (LockReleaser? releaser in held)
        {
            releaser?.Dispose();
        }
        await child.Completion.WaitAsync(TimeSpan.FromMinutes(1)).ConfigureAwait(false);
        Array.Sort(latencies);
        return latencies;
    }

    /// <summary>Uncontended acquire + release in this process, in nanoseconds per pair.</summary>
    public static double Uncontended(long pairs)
    {
        using var gate = SharedLock.Create();
        for (int i = 0; i < 100_000; i++)
        {
            gate.Acquire().Dispose();
        }
        long start = Stopwatch.GetTimestamp();
        for (long i = 0; i < pairs; i++)
        {
            gate.Acquire().Dispose();
        }
        return pairs == 0 ? 0 : Stopwatch.GetElapsedTime(start).TotalNanoseconds / pairs;
    }

    /// <summary><c>locks uncontended --n N</c>: one JSON line, so it can run under strace to count system calls.</summary>
    public static int RunUncontendedCommand(long pairs)
    {
        Console.WriteLine(JsonSerializer.Serialize(new { n = pairs, ns_per_pair = Uncontended(pairs) }));
        return 0;
    }

    private static void SpinFor(TimeSpan pause)
    {
        long end = Stopwatch.GetTimestamp() + (long)(pause.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < end)
        {
        }
    }
}
