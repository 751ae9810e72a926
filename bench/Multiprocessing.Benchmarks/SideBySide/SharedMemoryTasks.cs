using System.Numerics;
using System.Runtime.InteropServices;

namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>
/// The task methods of <c>sharedmem</c>, run in pool workers: touch one element or read every
/// element of a dataset that arrives as a <see cref="SharedArray{T}"/> (a descriptor) or as a
/// serialised <c>double[]</c> (a copy), and the hold-the-data tasks of the memory measurement.
/// </summary>
internal static class SharedMemoryTasks
{
    /// <summary>Elements read per span: <see cref="SharedArray{T}.AsReadOnlySpan(long, int)"/> takes at most int.MaxValue.</summary>
    private const int SpanElements = 1 << 24;

    /// <summary>Control array slots of the memory measurement: arrivals, the release flag, then the arriving workers' process ids.</summary>
    public const int ArrivedSlot = 0;
    public const int ReleaseSlot = 1;
    public const int FirstPidSlot = 2;

    /// <summary>This worker's own copy of the dataset (the copied case): built by its first task, kept for the next.</summary>
    private static double[]? s_ownCopy;

    /// <summary>The value every side stores at element <paramref name="index"/>.</summary>
    public static double ValueAt(long index) => index % 1024;

    /// <summary>The sum of <see cref="ValueAt"/> over <paramref name="length"/> elements (exact in doubles for these sizes).</summary>
    public static double ExpectedSum(long length)
    {
        (long full, long rest) = Math.DivRem(length, 1024);
        return full * (1023L * 1024 / 2) + rest * (rest - 1) / 2;
    }

    public static void Fill(Span<double> span, long offset)
    {
        for (int i = 0; i < span.Length; i++)
        {
            span[i] = (offset + i) % 1024;
        }
    }

    public static void Fill(SharedArray<double> array)
    {
        for (long start = 0; start < array.Length; start += SpanElements)
        {
            int count = (int)Math.Min(SpanElements, array.Length - start);
            Fill(array.AsSpan(start, count), start);
        }
    }

    public static double TouchShared(SharedArray<double> data) => data[data.Length - 1];

    public static double TouchCopy(double[] data) => data[^1];

    public static double SumShared(SharedArray<double> data)
    {
        double sum = 0;
        for (long start = 0; start < data.Length; start += SpanElements)
        {
            sum += Sum(data.AsReadOnlySpan(start, (int)Math.Min(SpanElements, data.Length - start)));
        }
        return sum;
    }

    public static double SumCopy(double[] data) => Sum(data);

    /// <summary>A vectorised sum, as numpy's <c>sum</c> is: both sides read at memory speed, so what differs is how the data arrived.</summary>
    public static double Sum(ReadOnlySpan<double> values)
    {
        var a = Vector<double>.Zero;
        var b = Vector<double>.Zero;
        ReadOnlySpan<Vector<double>> vectors = MemoryMarshal.Cast<double, Vector<double>>(values);
        int i = 0;
        for (; i + 1 < vectors.Length; i += 2)
        {
            a += vectors[i];
            b += vectors[i + 1];
        }
        if (i < vectors.Length)
        {
            a += vectors[i];
        }
        double sum = Vector.Sum(a + b);
        for (int j = vectors.Length * Vector<double>.Count; j < values.Length; j++)
        {
            sum += values[j];
        }
        return sum;
    }

    /// <summary>Collects this worker's garbage and returns its process id, so that its PSS afterwards is what it keeps.</summary>
    public static int CollectGarbage()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return Environment.ProcessId;
    }

    /// <summary>
    /// Memory, shared case: reads every element of the one shared array, then reports and waits
    /// until the parent has read the figures. <paramref name="a"/>.WarmMs &gt; 0 marks a warm-up task.
    /// </summary>
    public static (double Sum, int Pid) HoldShared((SharedArray<double> Data, SharedArray<int> Control, int WarmMs) a)
    {
        double sum = SumShared(a.Data);
        return (sum, ArriveAndWait(a.Control, a.WarmMs));
    }

    /// <summary>
    /// Memory, copied case: the worker's first task builds its own <c>double[]</c> of the dataset
    /// (filled with the same values) and keeps it; every task then reads all of it, reports and waits.
    /// </summary>
    public static (double Sum, int Pid) HoldOwnCopy((long Length, SharedArray<int> Control, int WarmMs) a)
    {
        if (s_ownCopy is null || s_ownCopy.LongLength != a.Length)
        {
            s_ownCopy = null;
            var copy = new double[a.Length];
            Fill(copy, 0);
            s_ownCopy = copy;
        }
        double sum = Sum(s_ownCopy);
        return (sum, ArriveAndWait(a.Control, a.WarmMs));
    }

    private static int ArriveAndWait(SharedArray<int> control, int warmMs)
    {
        int pid = Environment.ProcessId;
        if (warmMs > 0)
        {
            // Warm-up: long enough (over the pool's 200 µs round-trip estimate) that the pool keeps
            // handing each worker at most two tasks at a time, as it does for the real, long tasks.
            Thread.Sleep(warmMs);
            return pid;
        }
        int arrival = Interlocked.Increment(ref control.GetReference(ArrivedSlot));
        if (FirstPidSlot + arrival - 1 < control.Length)
        {
            Volatile.Write(ref control.GetReference(FirstPidSlot + arrival - 1), pid);
        }
        long deadline = Environment.TickCount64 + 600_000;
        while (Volatile.Read(ref control.GetReference(ReleaseSlot)) == 0)
        {
            if (Environment.TickCount64 > deadline)
            {
                throw new TimeoutException("The parent never released the workers.");
            }
            Thread.Sleep(5);
        }
        return pid;
    }
}
