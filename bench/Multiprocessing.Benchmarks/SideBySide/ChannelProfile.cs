using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Multiprocessing.Channels;
using Multiprocessing.Interop;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;

namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>
/// <c>channels profile</c>: where one message's time goes, measured piece by piece in one process
/// with Stopwatch (no second process, so no cache-line transfers: these are lower bounds of each
/// part). Serialisation and deserialisation through the library's codec; the bare ring (in-process
/// lock, sequence CAS, memory barriers, copy); the whole SharedChannel write + read; the BCL bounded
/// channel for scale; the primitives one message pays (an uncontended Lock, the SyncMemory use
/// count's two interlocked adds, a full fence, a futex wake with nobody asleep); the spin a reader
/// does before it parks; and the cost of one parked wait (write → futex waiter thread → thread pool
/// → continuation).
/// </summary>
internal static class ChannelProfile
{
    public static async Task<int> RunAsync(string[] args)
    {
        long count = 2_000_000;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--count" && i + 1 < args.Length)
            {
                count = long.Parse(args[++i], CultureInfo.InvariantCulture);
            }
        }
        Console.WriteLine($"# channels profile, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {RuntimeInformation.FrameworkDescription}, nproc {Environment.ProcessorCount}, load {ProcessCensus.LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("ns per message, single thread, median of 5 passes [min – max]:");
        Console.WriteLine();
        Console.WriteLine("| payload | wire bytes | serialise | deserialise | bare ring write + read | SharedChannel TryWrite + TryRead | BCL Channel.CreateBounded TryWrite + TryRead |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        Row<long, LongPayload>(count);
        Row<Quote, QuotePayload>(count);
        Row<Order, OrderPayload>(count / 4);
        Row<PackedOrder, PackedOrderPayload>(count / 2);
        Row<byte[], BlobPayload>(Math.Max(1000, count / 200));
        Console.WriteLine();
        Console.WriteLine("Primitives (ns per operation, single thread, median of 5 passes):");
        Console.WriteLine();
        Console.WriteLine("| operation | ns |");
        Console.WriteLine("|---|---|");
        var gate = new Lock();
        int uses = 0;
        Primitive("Lock enter + exit, uncontended", count, () =>
        {
            lock (gate)
            {
                uses++;
            }
        });
        Primitive("two Interlocked.Add (SyncMemory Enter + Exit)", count, () =>
        {
            Interlocked.Add(ref uses, 2);
            Interlocked.Add(ref uses, -2);
        });
        Primitive("Interlocked.MemoryBarrier (each Signal does one)", count, Interlocked.MemoryBarrier);
        Primitive("Stopwatch.GetTimestamp", count, () => Stopwatch.GetTimestamp());
        FutexWakeWithoutSleepers(count / 20);
        Console.WriteLine();
        await ParkedWaitsAsync().ConfigureAwait(false);
        return 0;
    }

    private static unsafe void FutexWakeWithoutSleepers(long count)
    {
        int* word = (int*)NativeMemory.AllocZeroed(sizeof(int));
        Primitive("futex wake, shared word, nobody asleep (a system call)", count, () => Libc.FutexWake(word, int.MaxValue));
        NativeMemory.Free(word);
    }

    /// <summary>Bytes each payload takes serialised (what the slot holds).</summary>
    public static IReadOnlyDictionary<string, int> WireBytes() => new Dictionary<string, int>
    {
        [LongPayload.Name] = Serialised(LongPayload.Make(123_456)).Length,
        [QuotePayload.Name] = Serialised(QuotePayload.Make(123_456)).Length,
        [OrderPayload.Name] = Serialised(OrderPayload.Make(123_456)).Length,
        [PackedOrderPayload.Name] = Serialised(PackedOrderPayload.Make(123_456), PackedOrderPayload.Serializer).Length,
        [PackedOrderUtf16Payload.Name] = Serialised(PackedOrderUtf16Payload.Make(123_456), PackedOrderUtf16Payload.Serializer).Length,
        [BlobPayload.Name] = Serialised(BlobPayload.Make(123_456)).Length,
    };

    private static byte[] Serialised<T>(T item, IWorkerSerializer? serializer = null)
    {
        var writer = new PayloadWriter(256);
        CodecProvider.For(serializer, null).Get<T>().Write(writer, item);
        return writer.ToArray();
    }

    private static unsafe void Row<T, TPayload>(long count)
        where TPayload : IChannelPayload<T>
    {
        Codec<T> codec = CodecProvider.For(TPayload.Serializer, null).Get<T>();
        var writer = new PayloadWriter(256);
        T sample = TPayload.Make(123_456);
        byte[] bytes = Serialised(sample, TPayload.Serializer);
        long sink = 0;

        string serialise = Passes(count, n =>
        {
            for (long i = 0; i < n; i++)
            {
                writer.Reset();
                codec.Write(writer, TPayload.Make(i));
            }
        });
        string deserialise = Passes(count, n =>
        {
            for (long i = 0; i < n; i++)
            {
                var reader = new PayloadReader(bytes);
                sink += TPayload.Key(codec.Read(ref reader));
            }
        });

        int maxMessage = TPayload.MaxMessageSize;
        int capacity = TPayload.Capacity;
        long size = ChannelRing.SizeOf(capacity, maxMessage);
        byte* memory = (byte*)NativeMemory.AlignedAlloc((nuint)size, 4096);
        NativeMemory.Clear(memory, (nuint)size);
        ChannelRing.Initialize(memory, capacity, maxMessage);
        var ring = new ChannelRing(memory);
        string bare = Passes(count, n =>
        {
            for (long i = 0; i < n; i++)
            {
                ring.TryWrite(bytes, out _);
                ring.TryRead(0, static (_, message) => message.Length, out int length);
                sink += length;
            }
        });
        NativeMemory.AlignedFree(memory);

        var options = new SharedChannelOptions(capacity) { MaxMessageSize = maxMessage, Serializer = TPayload.Serializer };
        using SharedChannel<T> channel = SharedChannel.CreateBounded<T>(options);
        ChannelWriter<T> channelWriter = channel.Writer;
        ChannelReader<T> channelReader = channel.Reader;
        string shared = Passes(count, n =>
        {
            for (long i = 0; i < n; i++)
            {
                channelWriter.TryWrite(TPayload.Make(i));
                channelReader.TryRead(out T? item);
                sink += TPayload.Key(item!);
            }
        });

        Channel<T> bcl = Channel.CreateBounded<T>(new BoundedChannelOptions(capacity) { SingleReader = true, SingleWriter = true });
        string local = Passes(count, n =>
        {
            for (long i = 0; i < n; i++)
            {
                bcl.Writer.TryWrite(TPayload.Make(i));
                bcl.Reader.TryRead(out T? item);
                sink += TPayload.Key(item!);
            }
        });
        GC.KeepAlive(sink);
        Console.WriteLine($"| {TPayload.Name} | {bytes.Length:N0} | {serialise} | {deserialise} | {bare} | {shared} | {local} |");
    }

    private static void Primitive(string what, long count, Action action) => Console.WriteLine($"| {what} | {Passes(count, n =>
    {
        for (long i = 0; i < n; i++)
        {
            action();
        }
    }, median: true)} |");

    /// <summary>A warm-up pass, then five timed passes of <paramref name="count"/> operations: "median [min – max]" ns per operation.</summary>
    private static string Passes(long count, Action<long> pass, bool median = false)
    {
        pass(Math.Max(1, count / 10));
        var ns = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            long start = Stopwatch.GetTimestamp();
            pass(count);
            ns.Add(Stopwatch.GetElapsedTime(start).TotalNanoseconds / count);
        }
        Summary s = Summary.Of(ns)!.Value;
        return median ? F(s.Median) : $"{F(s.Median)} [{F(s.Min)} – {F(s.Max)}]";
    }

    private static string F(double ns) => ns >= 100 ? ns.ToString("N0", CultureInfo.InvariantCulture) : ns.ToString("0.0", CultureInfo.InvariantCulture);

    /// <summary>
    /// How long WaitToReadAsync spins on an empty channel before it parks, and what one parked wait
    /// costs: from the writer's TryWrite to the reader's continuation (futex wake → waiter thread's
    /// futex_waitv returns → poll → TrySetResult → thread-pool continuation).
    /// </summary>
    private static async Task ParkedWaitsAsync()
    {
        using SharedChannel<long> channel = SharedChannel.CreateBounded<long>(new SharedChannelOptions(1024) { MaxMessageSize = 8 });
        ChannelReader<long> reader = channel.Reader;
        ChannelWriter<long> writer = channel.Writer;
        const int Trials = 500;
        var spins = new double[Trials];
        var wakes = new double[Trials];
        var writeCosts = new double[Trials];
        long written = 0;
        int parked = 0;
        for (int t = 0; t < Trials; t++)
        {
            long before = Stopwatch.GetTimestamp();
            ValueTask<bool> wait = reader.WaitToReadAsync();
            spins[t] = Stopwatch.GetElapsedTime(before).TotalMicroseconds;
            if (!wait.IsCompleted)
            {
                parked++;
            }
            Task<bool> waiting = wait.AsTask();
            var wakeAt = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            // The writer runs on its own thread after the reader has certainly parked.
            var thread = new Thread(() =>
            {
                Thread.Sleep(1);
                long at = Stopwatch.GetTimestamp();
                writer.TryWrite(42);
                writeCosts[t] = Stopwatch.GetElapsedTime(at).TotalMicroseconds;
                wakeAt.SetResult(at);
            });
            thread.Start();
            await waiting.ConfigureAwait(false);
            long resumed = Stopwatch.GetTimestamp();
            long wroteAt = await wakeAt.Task.ConfigureAwait(false);
            wakes[t] = Stopwatch.GetElapsedTime(wroteAt, resumed).TotalMicroseconds;
            thread.Join();
            while (reader.TryRead(out long value))
            {
                written += value;
            }
        }
        Array.Sort(spins);
        Array.Sort(wakes);
        Array.Sort(writeCosts);
        Console.WriteLine($"Parked waits ({Trials} trials, {parked} parked; µs, p50 / p99):");
        Console.WriteLine();
        Console.WriteLine("| step | p50 | p99 |");
        Console.WriteLine("|---|---|---|");
        (double sp50, double sp99, _) = Percentiles.OfSorted(spins);
        (double wp50, double wp99, _) = Percentiles.OfSorted(wakes);
        (double cp50, double cp99, _) = Percentiles.OfSorted(writeCosts);
        Console.WriteLine($"| WaitToReadAsync on an empty channel: spin until it returns a pending task | {sp50:0.0} | {sp99:0.0} |");
        Console.WriteLine($"| TryWrite that finds a parked reader (includes the futex wake system call) | {cp50:0.0} | {cp99:0.0} |");
        Console.WriteLine($"| TryWrite → the parked reader's continuation runs | {wp50:0.0} | {wp99:0.0} |");
        GC.KeepAlive(written);
    }
}
