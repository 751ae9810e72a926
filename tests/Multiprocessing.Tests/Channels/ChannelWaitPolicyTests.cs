using System.Diagnostics;
using Multiprocessing.Channels;

namespace Multiprocessing.Tests.Channels;

/// <summary>The rules a channel's waiters learn by (no timing: the rules are fed elapsed ticks), and the barrier registration they rely on.</summary>
public sealed class ChannelWaitPolicyTests
{
    private static readonly long Max = Stopwatch.Frequency / 1000;

    [Fact]
    public void AdaptivePark_Fresh_StartsAtTheLargestBudget()
    {
        var park = new AdaptivePark();
        Assert.Equal(Max, park.BudgetTicks);
    }

    [Fact]
    public void AdaptivePark_ParksRunOut_HalvesUntilParkingIsOff()
    {
        var park = new AdaptivePark();
        var budgets = new List<long>();
        while (park.BudgetTicks > 0)
        {
            budgets.Add(park.BudgetTicks);
            park.RanOut();
            Assert.True(budgets.Count < 64, "parking never turned off");
        }
        // Each step halves; the last budget before off is at least the smallest (50 µs).
        for (int i = 1; i < budgets.Count; i++)
        {
            Assert.Equal(budgets[i - 1] / 2, budgets[i]);
        }
        Assert.True(budgets[^1] >= Stopwatch.Frequency * 50 / 1_000_000);
        Assert.True(budgets[^1] / 2 < Stopwatch.Frequency * 50 / 1_000_000);
    }

    [Fact]
    public void AdaptivePark_Off_AQuickAsynchronousWaitTurnsItBackOnAtTheSmallest_ASlowOneDoesNot()
    {
        var park = new AdaptivePark();
        while (park.BudgetTicks > 0)
        {
            park.RanOut();
        }
        park.WaitedAsynchronously(Max * 10);
        Assert.Equal(0, park.BudgetTicks);
        park.WaitedAsynchronously(Max / 4);
        Assert.Equal(Stopwatch.Frequency * 50 / 1_000_000, park.BudgetTicks);
    }

    [Fact]
    public void AdaptivePark_WokenInTime_DoublesUpToTheLargest()
    {
        var park = new AdaptivePark();
        park.RanOut();
        park.RanOut();
        Assert.Equal(Max / 2 / 2, park.BudgetTicks);
        park.Woken();
        Assert.Equal(Max / 2 / 2 * 2, park.BudgetTicks);
        park.Woken();
        park.Woken();
        Assert.Equal(Max, park.BudgetTicks);
    }

    [SkippableFact]
    public void SleepFence_KernelOffersTheExpeditedBarrier_ThisProcessRegistersForIt()
    {
        // Linux 4.16+ offers MEMBARRIER_CMD_GLOBAL_EXPEDITED (QUERY says so). Offered but refused would mean a wrong
        // command or a seccomp filter, and every channel write paying a full fence again.
        Skip.IfNot(Multiprocessing.Interop.Libc.MembarrierHasGlobalExpedited(), "This kernel (or its seccomp filter) does not offer membarrier's expedited global barrier; channel writers keep their full fence here.");
        Assert.True(SleepFence.Prepare());
    }
}
