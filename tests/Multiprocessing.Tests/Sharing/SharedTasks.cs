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

/// <summary>Runs in a worker: every public member of disposed shared arrays, values and blocks (see <see cref="DisposedProbe"/>).</summary>
internal static class DisposedSharingTasks
{
    public static string ProbeAfterDispose(string directory)
    {
        var probe = new DisposedProbe();
        var owner = SharedArray<long>.CreateFrom([1, 2, 3, 4]);
        SharedArray<long> view = owner.AsReadOnly();
        Memory<long> memory = owner.AsMemory(0, 2);
        ReadOnlyMemory<long> readOnlyMemory = owner.AsReadOnlyMemory(1, 2);
        var file = SharedArray<int>.CreateFile(Path.Combine(directory, "probe.bin"), 8);
        owner.Dispose();
        file.Dispose();
        foreach ((string what, SharedArray<long> array) in new[] { ("owner", owner), ("view of a disposed owner", view) })
        {
            probe.Throws($"{what}[0]", () => _ = array[0]);
            probe.Throws($"{what}[99] (out of range)", () => _ = array[99]);
            probe.Throws($"{what}[0] = 1", () => array[0] = 1);
            probe.Throws($"{what}.GetReference", () => _ = array.GetReference(0));
            probe.Throws($"{what}.AsSpan()", () => _ = array.AsSpan().Length);
            probe.Throws($"{what}.AsSpan(1)", () => _ = array.AsSpan(1).Length);
            probe.Throws($"{what}.AsSpan(0, 1)", () => _ = array.AsSpan(0, 1).Length);
            probe.Throws($"{what}.AsReadOnlySpan()", () => _ = array.AsReadOnlySpan().Length);
            probe.Throws($"{what}.AsReadOnlySpan(1)", () => _ = array.AsReadOnlySpan(1).Length);
            probe.Throws($"{what}.AsReadOnlySpan(0, 1)", () => _ = array.AsReadOnlySpan(0, 1).Length);
            probe.Throws($"{what}.AsMemory", () => _ = array.AsMemory(0, 1));
            probe.Throws($"{what}.AsReadOnlyMemory", () => _ = array.AsReadOnlyMemory(0, 1));
            probe.Throws($"{what}.ToArray", () => _ = array.ToArray());
            probe.Throws($"{what}.AsReadOnly", () => _ = array.AsReadOnly());
            probe.Safe($"{what}.Length", () => array.Length);
            probe.Safe($"{what}.Name", () => array.Name);
            probe.Safe($"{what}.FilePath", () => array.FilePath);
            probe.Safe($"{what}.IsReadOnly", () => array.IsReadOnly);
            probe.Safe($"{what}.IsDisposed", () => array.IsDisposed ? "" : throw new InvalidOperationException("IsDisposed is false"));
            probe.Safe($"{what}.ToString", array.ToString);
            probe.Safe($"{what}.Dispose (again)", () => { array.Dispose(); return null; });
        }
        probe.Throws("Memory.Span of a disposed array", () => _ = memory.Span.Length);
        probe.Throws("ReadOnlyMemory.Span of a disposed array", () => _ = readOnlyMemory.Span.Length);
        probe.Throws("file-backed [0]", () => _ = file[0]);
        probe.Throws("file-backed AsSpan", () => _ = file.AsSpan().Length);

        var value = SharedValue<long>.Create(5);
        value.Dispose();
        probe.Throws("SharedValue.Value", () => _ = value.Value);
        probe.Safe("SharedValue.ToString", value.ToString);

        var block = SharedMemory.Create(64);
        SharedMemory blockView = block.AsReadOnly();
        block.Dispose();
        foreach ((string what, SharedMemory b) in new[] { ("SharedMemory", block), ("SharedMemory view", blockView) })
        {
            probe.Throws($"{what}.AsSpan", () => _ = b.AsSpan(0, 8).Length);
            probe.Throws($"{what}.AsReadOnlySpan", () => _ = b.AsReadOnlySpan(0, 8).Length);
            probe.Throws($"{what}.AsSpan<int>", () => _ = b.AsSpan<int>(0, 2).Length);
            probe.Throws($"{what}.AsReadOnlySpan<int>", () => _ = b.AsReadOnlySpan<int>(0, 2).Length);
            probe.Throws($"{what}.GetReference<long>", () => _ = b.GetReference<long>(8));
            probe.Throws($"{what}.AsReadOnly", () => _ = b.AsReadOnly());
            probe.Safe($"{what}.Size", () => b.Size);
            probe.Safe($"{what}.ToString", b.ToString);
        }
        return probe.Report;
    }

    /// <summary>
    /// Readers on two threads read an array (the indexer, and ToArray, which copies for a while)
    /// while the main thread disposes it, many times over. Every read must give the value written or
    /// throw <see cref="ObjectDisposedException"/>; a read of unmapped memory kills this process.
    /// Returns what went wrong, or "" and how many reads ended each way.
    /// </summary>
    public static string DisposeRacingReaders(int rounds)
    {
        long values = 0, refused = 0;
        var wrong = new System.Collections.Concurrent.ConcurrentQueue<string>();
        for (int round = 0; round < rounds; round++)
        {
            var array = SharedArray<long>.Create(1 << 17); // 1 MiB: ToArray copies long enough to be caught in the middle
            array.AsSpan().Fill(7);
            using var started = new CountdownEvent(2);
            var readers = new Thread[2];
            for (int r = 0; r < readers.Length; r++)
            {
                bool copies = r == 0;
                readers[r] = new Thread(() =>
                {
                    long index = 0;
                    started.Signal();
                    try
                    {
                        while (true)
                        {
                            if (copies)
                            {
                                long[] copy = array.ToArray();
                                if (Array.IndexOf(copy, 0L) is int at and >= 0)
                                {
                                    wrong.Enqueue($"ToArray gave 0 at {at}");
                                    return;
                                }
                            }
                            else if (array[index++ & ((1 << 17) - 1)] is var read && read != 7)
                            {
                                wrong.Enqueue($"the indexer gave {read}");
                                return;
                            }
                            Interlocked.Increment(ref values);
                        }
                    }
                    catch (ObjectDisposedException)
                    {
                        Interlocked.Increment(ref refused);
                    }
                });
                readers[r].Start();
            }
            started.Wait();
            array.Dispose();
            foreach (Thread reader in readers)
            {
                reader.Join();
            }
        }
        return wrong.IsEmpty ? $"ok: {values} reads gave the value, {refused} were refused" : string.Join("; ", wrong);
    }
}
