using System.Diagnostics;
using System.Globalization;

namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>
/// Runs in a fresh child process, so nothing is warm: the time from <c>new ProcessPool</c> to the
/// first <c>SubmitAsync</c> result, printed as one JSON line. The runtime's own start is before the
/// clock, as the interpreter's start is on the CPython side.
/// </summary>
internal static class StartOnce
{
    public const string Command = "startonce";

    /// <summary>Starts the error line the child writes when disposing the pool throws.</summary>
    public const string DisposeFailedMarker = "startonce: DisposeAsync threw";

    public static async Task<int> RunAsync()
    {
        long start = Stopwatch.GetTimestamp();
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        int result = await pool.SubmitAsync(Workloads.Double, 21).ConfigureAwait(false);
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"ms\": {ms:0.###}}}"));
        Console.Out.Flush();
        try
        {
            await pool.DisposeAsync().ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            // The measurement above stands; the parent counts these and reports them as a library problem.
            Console.Error.WriteLine($"{DisposeFailedMarker} {e.GetType().Name}: {e.Message}");
            Console.Error.WriteLine(e.StackTrace);
        }
        return result == 42 ? 0 : 1;
    }
}
