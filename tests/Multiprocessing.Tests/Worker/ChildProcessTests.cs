using Multiprocessing.Interop;
using Multiprocessing.Tests.Observability;
using Multiprocessing.Worker;

namespace Multiprocessing.Tests.Worker;

/// <summary>
/// The launch path under the pool (posix_spawn, an exit watcher per child that reaps it), with real
/// child processes: what a started program sees, and what the parent reads of its end.
/// </summary>
public sealed class ChildProcessTests
{
    private static readonly Dictionary<string, string?> NoChanges = [];

    [Fact]
    public async Task Start_ReportsTheExitCode_AndASignalAs128PlusItsNumber()
    {
        using ChildProcess exits = ChildProcess.Start("/bin/sh", ["-c", "exit 3"], NoChanges);
        using ChildProcess killed = ChildProcess.Start("/bin/sh", ["-c", "kill -9 $$"], NoChanges);
        exits.AttachOutput(null);
        killed.AttachOutput(null);
        await exits.WaitForExitAsync(CancellationToken.None).WaitAsync(Bounds.Unexpected);
        await killed.WaitForExitAsync(CancellationToken.None).WaitAsync(Bounds.Unexpected);
        Assert.Equal(3, exits.ExitCode);
        Assert.Equal(128 + 9, killed.ExitCode);
    }

    [Fact]
    public async Task Start_PipesBothOutputs_AndGivesEndOfInputOnStdin()
    {
        var capture = new LogCapture();
        using ChildProcess child = ChildProcess.Start("/bin/sh", ["-c", "if read line; then echo got-input; else echo no-input; fi; echo to-stderr >&2"], NoChanges);
        WorkerOutput output = child.AttachOutput(capture.CreateFactory().CreateLogger("test"));
        await child.WaitForExitAsync(CancellationToken.None).WaitAsync(Bounds.Unexpected);
        Assert.True(output.WaitForDrain(Bounds.Unexpected));
        Assert.Contains(capture.Entries, e => e.Message.Contains("no-input", StringComparison.Ordinal));
        Assert.Contains("to-stderr", output.RecentErrors(), StringComparison.Ordinal);
        Assert.Equal(0, child.ExitCode);
    }

    [Fact]
    public async Task Start_PassesThisProcesssEnvironment_WithTheChangesGiven()
    {
        string inherited = "MP_TEST_CHILD_INHERITED_" + Environment.ProcessId;
        string removed = "MP_TEST_CHILD_REMOVED_" + Environment.ProcessId;
        // Set through .NET only: the C library's environment does not see it, the child must.
        Environment.SetEnvironmentVariable(inherited, "from-parent");
        Environment.SetEnvironmentVariable(removed, "must-not-arrive");
        try
        {
            var capture = new LogCapture();
            using ChildProcess child = ChildProcess.Start("/bin/sh", ["-c", $"echo \"[${inherited}] [${{{removed}-unset}}] [$MP_TEST_CHILD_SET]\""],
                new Dictionary<string, string?> { [removed] = null, ["MP_TEST_CHILD_SET"] = "given" });
            WorkerOutput output = child.AttachOutput(capture.CreateFactory().CreateLogger("test"));
            await child.WaitForExitAsync(CancellationToken.None).WaitAsync(Bounds.Unexpected);
            Assert.True(output.WaitForDrain(Bounds.Unexpected));
            Assert.Contains(capture.Entries, e => e.Message.Contains("[from-parent] [unset] [given]", StringComparison.Ordinal));
        }
        finally
        {
            Environment.SetEnvironmentVariable(inherited, null);
            Environment.SetEnvironmentVariable(removed, null);
        }
    }

    [Fact]
    public async Task AnEndedChild_IsReaped_AndKillingItAfterwardsSendsNothing()
    {
        using ChildProcess child = ChildProcess.Start("/bin/sh", ["-c", "exit 0"], NoChanges);
        child.AttachOutput(null);
        await child.WaitForExitAsync(CancellationToken.None).WaitAsync(Bounds.Unexpected);
        // Reaped right after its end was recorded: no zombie of ours stays under that pid.
        await Wait.UntilAsync(() => ParentOf(child.Id) != Environment.ProcessId, $"child {child.Id} to be reaped");
        child.Kill();
        Assert.Equal(0, child.ExitCode);
    }

    [Fact]
    public void Start_AProgramThatDoesNotExist_SaysWhichAndWhy()
    {
        FileNotFoundException error = Assert.Throws<FileNotFoundException>(() => ChildProcess.Start("/nonexistent/mp-test-program", [], NoChanges));
        Assert.Contains("posix_spawn", error.Message, StringComparison.Ordinal);
        Assert.Contains("/nonexistent/mp-test-program", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Kill_EndsARunningChild()
    {
        using ChildProcess child = ChildProcess.Start("/bin/sh", ["-c", "exec sleep 600"], NoChanges);
        child.AttachOutput(null);
        Assert.False(child.HasExited);
        child.Kill();
        await child.WaitForExitAsync(CancellationToken.None).WaitAsync(Bounds.Unexpected);
        Assert.Equal(128 + 9, child.ExitCode);
    }

    private static int ParentOf(int pid) => ProcFs.TryReadStat(pid, out ProcFs.ProcessStat stat) ? stat.ParentId : -1;
}
