using System.Diagnostics;
using System.Text;
using Multiprocessing.Interop;

namespace Multiprocessing.Tests.Interop;

public sealed class ProcFsTests
{
    [Fact]
    public void TryParseStat_CommandNameWithSpacesAndParentheses_FieldsCountedFromTheLastParenthesis()
    {
        // Fields 3 (state), 4 (ppid) and 22 (starttime) of a process whose name is "a) (b c".
        string stat = "4242 (a) (b c) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200 18446744073709551615";
        Assert.True(ProcFs.TryParseStat(Encoding.ASCII.GetBytes(stat), out ProcFs.ProcessStat parsed));
        Assert.Equal(new ProcFs.ProcessStat('S', 17, 987654), parsed);
        Assert.True(parsed.IsRunning);
    }

    [Fact]
    public void TryParseStat_Truncated_IsFalse()
    {
        Assert.False(ProcFs.TryParseStat("12 (x) S 1 2 3"u8, out _));
        Assert.False(ProcFs.TryParseStat("garbage"u8, out _));
    }

    [Fact]
    public void TryReadStat_ThisProcess_ParentAndStartTimeMatchTheKernel()
    {
        Assert.True(ProcFs.TryReadStat(Environment.ProcessId, out ProcFs.ProcessStat self));
        Assert.True(self.IsRunning);
        Assert.Equal(Libc.GetParentProcessId(), self.ParentId);
        Assert.True(self.StartTicks > 0);
    }

    [Fact]
    public void TryReadStat_ExitedChildNotReaped_IsNotRunning()
    {
        using var child = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", "exit 0"]) { UseShellExecute = false })!;
        // Until it is reaped the child is a zombie: its stat exists with state Z.
        child.WaitForExit();
        Assert.False(ProcFs.TryReadStat(child.Id, out ProcFs.ProcessStat gone) && gone.IsRunning);
    }

    [Fact]
    public void ParseKilobyteFields_KilobyteLines_AreBytes_OtherLinesGoToTheCallback()
    {
        var skipped = new List<int>();
        Dictionary<string, long> fields = ProcFs.ParseKilobyteFields(
            "MemTotal:       2048 kB\nHugePages_Total:       0\nSwapFree:  1 kB\n",
            (line, _) => { skipped.Add(line); return null; });
        Assert.Equal(2048L * 1024, fields["MemTotal"]);
        Assert.Equal(1024L, fields["SwapFree"]);
        Assert.Equal([2], skipped);
        Assert.Throws<InvalidDataException>(() => ProcFs.ParseKilobyteFields("Rss: lots\n", (_, _) => new InvalidDataException("bad")));
    }

    [Fact]
    public void ReadMemInfo_ThisMachine_HasTotalAndAvailable()
    {
        Dictionary<string, long> info = ProcFs.ReadMemInfo();
        Assert.True(info["MemTotal"] > 0);
        Assert.True(info["MemAvailable"] <= info["MemTotal"]);
    }

    [Fact]
    public void PrivateResidentBytes_ThisProcess_IsPositive() => Assert.True(ProcFs.PrivateResidentBytes() > 0);
}
