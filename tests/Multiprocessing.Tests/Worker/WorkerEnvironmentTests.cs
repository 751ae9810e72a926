using Multiprocessing.Tests.Hosting;
using Multiprocessing.Worker;

namespace Multiprocessing.Tests.Worker;

/// <summary>The runtime settings a pool gives its workers, and the user's way to change them.</summary>
public sealed class WorkerEnvironmentTests
{
    [Fact]
    public async Task Workers_KeepNoneOfTheJitsFreedScratchMemory()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });

        Assert.Equal("0", await pool.SubmitAsync(HostingTasks.ReadEnvironment, WorkerLauncher.JitScratchVariable).WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task Workers_WorkerEnvironment_OverridesThePoolsSetting()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions
        {
            Workers = 1,
            WorkerEnvironment = new Dictionary<string, string?> { [WorkerLauncher.JitScratchVariable] = "0x1000000" },
        });

        Assert.Equal("0x1000000", await pool.SubmitAsync(HostingTasks.ReadEnvironment, WorkerLauncher.JitScratchVariable).WaitAsync(Bounds.Unexpected));
    }
}
