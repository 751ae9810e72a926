using System.Runtime.CompilerServices;
using BenchmarkDotNet.Running;
using Multiprocessing.Benchmarks.Cluster;
using Multiprocessing.Benchmarks.Locks;
using Multiprocessing.Benchmarks.Results;
using Multiprocessing.Benchmarks.SideBySide;

namespace Multiprocessing.Benchmarks;

/// <summary>
/// <c>sidebyside [--quick]</c>: the pool against CPython and the C floor, interleaved, as a markdown report.
/// <c>startonce</c>: one fresh-process start measurement (the side-by-side mode runs it as a child).
/// <c>sharedmem [--quick]</c>: shared memory against CPython (handing data to a task; PSS of N workers reading 1 GiB).
/// <c>locks [--quick]</c>: SharedLock hand-off and uncontended cost against CPython and the C futex floor.
/// <c>channels [--quick]</c>: SharedChannel and Pipe against CPython's Queue, SimpleQueue and Pipe and the C ring floor (<c>channels profile</c>: where a message's time goes).
/// <c>cluster [--quick]</c>: ClusterPool over 2 local nodes against Dask distributed (<c>cluster node …</c>: this program as one of the nodes; <c>cluster tiering</c>: what tiered compilation off costs a worker's tasks).
/// <c>list-modes</c>: the modes above that <c>mp bench</c> runs, one a line.
/// Every mode writes its results as JSON to the file its <c>--json</c> names (records in bench/Shared/RunnerResults.cs).
/// Anything else goes to BenchmarkDotNet's switcher (<c>--filter *</c>, <c>--list flat</c>, …).
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        switch (args.FirstOrDefault())
        {
            case RunnerModes.ListCommand:
                Console.WriteLine(string.Join('\n', RunnerModes.All));
                return 0;
            case SideBySideRunner.Command:
                return await SideBySideRunner.RunAsync(args[1..]).ConfigureAwait(false);
            case StartOnce.Command:
                return await StartOnce.RunAsync().ConfigureAwait(false);
            case LockSideBySide.Command:
                return await LockSideBySide.RunAsync(args[1..]).ConfigureAwait(false);
            case SharedMemoryRunner.Command:
                return await SharedMemoryRunner.RunAsync(args[1..]).ConfigureAwait(false);
            case ChannelRunner.Command:
                return await ChannelRunner.RunAsync(args[1..]).ConfigureAwait(false);
            case ClusterRunner.Command:
                return await ClusterRunner.RunAsync(args[1..]).ConfigureAwait(false);
            default:
                RunBenchmarkDotNet(args);
                return 0;
        }
    }

    // Kept out of Main so that the startonce child, whose start is being measured, never loads BenchmarkDotNet.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RunBenchmarkDotNet(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
