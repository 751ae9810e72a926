namespace Multiprocessing.Cli.Jobs;

/// <summary>
/// What each worker of the memory experiment does: take the dataset (its own copy, or the shared
/// array), read every element, say so, and keep holding the data until told to let go, so that its
/// memory can be measured while it is alive.
/// </summary>
public static class DatasetReading
{
    // Statics keep the data reachable in the worker while the parent measures it, as a service
    // that loaded its dataset would.
    private static long[]? s_copy;
    private static SharedArray<long>? s_shared;

    /// <summary>Fills the dataset: element i holds i, as in the Python write-up's <c>list(range(n))</c>.</summary>
    public static void Fill(Span<long> data, long offset)
    {
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = offset + i;
        }
    }

    /// <summary>Worker side, copied mode: the worker loads its own managed copy, as each process of a service without shared memory does.</summary>
    public static long HoldCopy((int Items, SharedValue<int> Ready, SharedValue<int> Release) task)
    {
        long[] copy = new long[task.Items];
        Fill(copy, 0);
        s_copy = copy;
        return Hold(Sum(copy), task.Ready, task.Release);
    }

    /// <summary>Worker side, shared mode: the task carries a descriptor; the worker maps the parent's pages.</summary>
    public static long HoldShared((SharedArray<long> Data, SharedValue<int> Ready, SharedValue<int> Release) task)
    {
        s_shared = task.Data;
        long sum = 0;
        for (long start = 0; start < task.Data.Length; start += 1 << 24)
        {
            sum += Sum(task.Data.AsReadOnlySpan(start, (int)Math.Min(1 << 24, task.Data.Length - start)));
        }
        return Hold(sum, task.Ready, task.Release);
    }

    private static long Hold(long sum, SharedValue<int> ready, SharedValue<int> release)
    {
        Interlocked.Increment(ref ready.Value);
        // Polling a shared word every few milliseconds costs nothing measurable here and needs
        // nothing but the memory the experiment is about.
        while (Volatile.Read(ref release.Value) == 0)
        {
            Thread.Sleep(5);
        }
        s_copy = null;
        s_shared = null;
        return sum;
    }

    private static long Sum(ReadOnlySpan<long> data)
    {
        long sum = 0;
        foreach (long value in data)
        {
            sum += value;
        }
        return sum;
    }
}
