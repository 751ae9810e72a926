using System.Runtime.InteropServices;

namespace Multiprocessing.Tests.Sharing;

/// <summary>Task methods that run in workers on shared objects.</summary>
internal static class SharedTasks
{
    public static double SumSlice((SharedArray<double> Array, long Start, int Count) slice)
    {
        double sum = 0;
        foreach (double value in slice.Array.AsReadOnlySpan(slice.Start, slice.Count))
        {
            sum += value;
        }
        return sum;
    }

    /// <summary>Reads every element, so that every page of the array is mapped into the worker.</summary>
    public static double SumAll(SharedArray<double> array)
    {
        double sum = 0;
        for (long start = 0; start < array.Length; start += 1 << 20)
        {
            int count = (int)Math.Min(1 << 20, array.Length - start);
            foreach (double value in array.AsReadOnlySpan(start, count))
            {
                sum += value;
            }
        }
        return sum;
    }

    public static double SumCopy(double[] copy)
    {
        double sum = 0;
        foreach (double value in copy)
        {
            sum += value;
        }
        return sum;
    }

    public static void FillSlice((SharedArray<int> Array, int Start, int Count) slice)
    {
        Span<int> span = slice.Array.AsSpan(slice.Start, slice.Count);
        for (int i = 0; i < span.Length; i++)
        {
            span[i] = slice.Start + i;
        }
    }

    public static void Increment((SharedValue<long> Counter, int Times) a)
    {
        for (int i = 0; i < a.Times; i++)
        {
            Interlocked.Increment(ref a.Counter.Value);
        }
    }

    public static int AttachedCount(int _) => Multiprocessing.Sharing.SegmentAttachments.Count;

    public static bool IsReadOnly(SharedArray<int> array) => array.IsReadOnly;

    public static int WriteThroughApi(SharedArray<int> array)
    {
        array.AsSpan(0, 1)[0] = 42;
        return 0;
    }

    /// <summary>Bypasses the API to write into what the worker mapped: must fault if the mapping is read-only.</summary>
    public static int WriteBehindTheApisBack(SharedArray<int> array)
    {
        ref int first = ref MemoryMarshal.GetReference(array.AsReadOnlySpan(0, 1));
        first = 42;
        return first;
    }

    public static long SumNamed(string name)
    {
        using var array = SharedArray<int>.Open(name, readOnly: true);
        long sum = 0;
        foreach (int value in array.AsReadOnlySpan())
        {
            sum += value;
        }
        return sum;
    }

    public static int HoldNamed((string Name, int Megabytes, string Marker) a)
    {
        var array = SharedArray<byte>.Create((long)a.Megabytes << 20, a.Name);
        array.AsSpan().Fill(1); // commit every page
        File.WriteAllText(a.Marker, "ready");
        Thread.Sleep(Timeout.Infinite);
        GC.KeepAlive(array);
        return 0;
    }

    public static long SumBytes(SharedMemory block)
    {
        long sum = 0;
        foreach (byte b in block.AsReadOnlySpan(0, (int)block.Size))
        {
            sum += b;
        }
        return sum;
    }

    public static long RecordTotal(Batch batch) => batch.Values.AsReadOnlySpan().ToArray().Sum() * batch.Scale;
}

/// <summary>A record that travels as JSON and carries a shared array inside.</summary>
public sealed record Batch(SharedArray<int> Values, int Scale);
