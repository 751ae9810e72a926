using System.Diagnostics;
using System.Net.Sockets;

namespace Multiprocessing.Worker;

/// <summary>
/// A bounded spin before a blocking receive. On these virtual machines a thread asleep on a socket
/// takes about 25 µs to wake, which is most of a task's round trip; a peer that answers within the
/// spin is picked up without sleeping. Bounded so an idle connection costs nothing after it.
/// </summary>
internal static class SocketSpin
{
    /// <summary>How long to poll, in microseconds. <c>MP_SPIN_US</c> overrides it (0 disables spinning), for measurement.</summary>
    public static readonly long BudgetTicks = Stopwatch.Frequency / 1_000_000 *
        (long.TryParse(Environment.GetEnvironmentVariable("MP_SPIN_US"), out long us) && us >= 0 ? us : 50);

    /// <summary>Returns once data is readable or the budget is spent.</summary>
    public static void UntilReadable(Socket socket)
    {
        if (BudgetTicks == 0)
        {
            return;
        }
        long until = Stopwatch.GetTimestamp() + BudgetTicks;
        while (socket.Available == 0 && Stopwatch.GetTimestamp() < until)
        {
            Thread.SpinWait(20);
        }
    }
}
