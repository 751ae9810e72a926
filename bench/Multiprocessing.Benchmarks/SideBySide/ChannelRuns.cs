using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using MemoryPack;
using Multiprocessing.MemoryPack;

namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>A message type of the channel benchmark: how to make message i, and what to add to the checksum.</summary>
internal interface IChannelPayload<T>
{
    /// <summary>Short name used in the report and on the command line.</summary>
    static abstract string Name { get; }

    /// <summary>Payload bytes per message, for MB/s (the nominal size; see <see cref="ChannelPayloads"/> for the bytes on the wire).</summary>
    static abstract int PayloadBytes { get; }

    /// <summary>The channel's MaxMessageSize: the serialised message fits, with a little room.</summary>
    static abstract int MaxMessageSize { get; }

    /// <summary>The channel's capacity in messages.</summary>
    static abstract int Capacity { get; }

    static abstract T Make(long i);

    static abstract long Key(T item);

    /// <summary>The sum of <see cref="Key"/> over messages <paramref name="first"/> … <paramref name="first"/> + <paramref name="count"/> − 1.</summary>
    static abstract long ExpectedSum(long first, long count);

    /// <summary>The channel's serializer (<see cref="SharedChannelOptions.Serializer"/>); null for the library's built-in ones.</summary>
    static virtual IWorkerSerializer? Serializer => null;
}

/// <summary>8-byte messages: a long, copied byte for byte.</summary>
internal readonly struct LongPayload : IChannelPayload<long>
{
    public static string Name => "long";
    public static int PayloadBytes => 8;
    public static int MaxMessageSize => 8;
    public static int Capacity => 4096;
    public static long Make(long i) => i;
    public static long Key(long item) => item;
    public static long ExpectedSum(long first, long count) => ChannelPayloads.SumOfRange(first, count);
}

/// <summary>A 100-byte record struct of unmanaged fields: the library copies it byte for byte (no JSON).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public readonly record struct Quote(long Id, long Timestamp, double Bid, double Ask, long BidSize, long AskSize,
    double Last, long Volume, double Open, double High, double Low, double Close, int Flags);

internal readonly struct QuotePayload : IChannelPayload<Quote>
{
    public static string Name => "quote100";
    public static int PayloadBytes => 100;
    public static int MaxMessageSize => 128;
    public static int Capacity => 4096;
    public static Quote Make(long i) => new(i, 1_700_000_000_123_456 + i, 412.25, 412.5, 300, 200, 412.3, 1_000_000 + i, 410, 415, 409.5, 412.3, 7);
    public static long Key(Quote item) => item.Id;
    public static long ExpectedSum(long first, long count) => ChannelPayloads.SumOfRange(first, count);
}

/// <summary>A class record of a few fields: the library serialises it with System.Text.Json (about 110 bytes of JSON).</summary>
public sealed record Order(long Id, string Symbol, double Price, int Quantity, string Side, string Venue, long Timestamp);

internal readonly struct OrderPayload : IChannelPayload<Order>
{
    public static string Name => "order-json";
    public static int PayloadBytes => 100;
    public static int MaxMessageSize => 256;
    public static int Capacity => 4096;
    public static Order Make(long i) => new(i, "MSFT", 412.25, 100, "buy", "XNAS", 1_700_000_000_123_456 + i);
    public static long Key(Order item) => item.Id;
    public static long ExpectedSum(long first, long count) => ChannelPayloads.SumOfRange(first, count);
}

/// <summary>The same 7 fields as <see cref="Order"/>, as a MemoryPack type: the channel's serializer is MemoryPack, not System.Text.Json.</summary>
[MemoryPackable]
public sealed partial record PackedOrder(long Id, string Symbol, double Price, int Quantity, string Side, string Venue, long Timestamp);

internal readonly struct PackedOrderPayload : IChannelPayload<PackedOrder>
{
    private static readonly MemoryPackWorkerSerializer s_serializer = new();
    public static string Name => "order-memorypack";
    public static int PayloadBytes => 100;
    public static int MaxMessageSize => 256;
    public static int Capacity => 4096;
    public static IWorkerSerializer? Serializer => s_serializer;
    public static PackedOrder Make(long i) => new(i, "MSFT", 412.25, 100, "buy", "XNAS", 1_700_000_000_123_456 + i);
    public static long Key(PackedOrder item) => item.Id;
    public static long ExpectedSum(long first, long count) => ChannelPayloads.SumOfRange(first, count);
}

/// <summary>
/// The same record through <see cref="MemoryPackUtf16WorkerSerializer"/>: strings copied as UTF-16
/// instead of transcoded to UTF-8 (more bytes in the slot, less CPU on both sides).
/// </summary>
internal readonly struct PackedOrderUtf16Payload : IChannelPayload<PackedOrder>
{
    private static readonly MemoryPackUtf16WorkerSerializer s_serializer = new();
    public static string Name => "order-memorypack-utf16";
    public static int PayloadBytes => PackedOrderPayload.PayloadBytes;
    public static int MaxMessageSize => PackedOrderPayload.MaxMessageSize;
    public static int Capacity => PackedOrderPayload.Capacity;
    public static IWorkerSerializer? Serializer => s_serializer;
    public static PackedOrder Make(long i) => PackedOrderPayload.Make(i);
    public static long Key(PackedOrder item) => item.Id;
    public static long ExpectedSum(long first, long count) => ChannelPayloads.SumOfRange(first, count);
}

/// <summary>64 KiB byte arrays (one buffer, sent again and again); the checksum counts bytes.</summary>
internal readonly struct BlobPayload : IChannelPayload<byte[]>
{
    public const int Size = 64 * 1024;
    private static readonly byte[] s_blob = MakeBlob();
    public static string Name => "bytes64k";
    public static int PayloadBytes => Size;
    public static int MaxMessageSize => Size + 64; // the codec's 4-byte length rides along
    public static int Capacity => 64;
    public static byte[] Make(long i) => s_blob;
    public static long Key(byte[] item) => item.Length;
    public static long ExpectedSum(long first, long count) => count * Size;

    private static byte[] MakeBlob()
    {
        var blob = new byte[Size];
        new Random(42).NextBytes(blob);
        return blob;
    }
}

/// <summary>Payload names, and the bytes each takes on the wire (serialised, as the channel stores it).</summary>
internal static class ChannelPayloads
{
    public static readonly string[] All = [LongPayload.Name, QuotePayload.Name, OrderPayload.Name, PackedOrderPayload.Name, PackedOrderUtf16Payload.Name, BlobPayload.Name];

    public static int PayloadBytes(string payload) => payload switch
    {
        "long" => LongPayload.PayloadBytes,
        "quote100" => QuotePayload.PayloadBytes,
        "order-json" => OrderPayload.PayloadBytes,
        "order-memorypack" => PackedOrderPayload.PayloadBytes,
        "order-memorypack-utf16" => PackedOrderUtf16Payload.PayloadBytes,
        "bytes64k" => BlobPayload.PayloadBytes,
        _ => throw new ArgumentException(payload),
    };

    public static bool IsLarge(string payload) => payload == BlobPayload.Name;

    public static long SumOfRange(long first, long count) => count * first + count * (count - 1) / 2;
}

/// <summary>
/// What a producer process reports: when it started (after the go barrier), how often TryWrite
/// failed and how long the WriteAsync fallbacks took, and over the timed part the process's gen-0
/// collections, CPU time (all threads, user + system, in ns) and methods the JIT compiled (a
/// warm-up that ended too early shows here: tier-0 code and tier-1 compiles inside the timed part).
/// </summary>
internal readonly record struct ProducerReport(long Start, long End, long Fallbacks, long FallbackTicks, long Gen0, long CpuNs, long Jitted = 0);

/// <summary>
/// What a consumer process reports: messages and checksum, when it saw completion, and (for the
/// drain style) how many WaitToReadAsync calls completed at once or had to wait, and how long those waits took.
/// </summary>
internal readonly record struct ConsumerReport(long Count, long Sum, long End, long SyncWaits, long AsyncWaits, long AsyncTicks, long Gen0 = 0, long CpuNs = 0, long Jitted = 0);

/// <summary>The process's gen-0 collections, CPU time and JIT-compiled methods so far, to subtract around the timed part.</summary>
internal readonly record struct ProcessCost(long Gen0, long CpuNs, long Jitted)
{
    public static ProcessCost Now()
    {
        using var process = Process.GetCurrentProcess();
        return new ProcessCost(GC.CollectionCount(0), (long)process.TotalProcessorTime.TotalNanoseconds, System.Runtime.JitInfo.GetCompiledMethodCount());
    }

    public ProcessCost Since(ProcessCost start) => new(Gen0 - start.Gen0, CpuNs - start.CpuNs, Jitted - start.Jitted);
}

/// <summary>
/// The worker side of the channel benchmark: static methods that run in producer and consumer
/// processes (<see cref="WorkerProcess"/>), with the channel (or pipe end) as their argument.
/// Each run: a timed-out warm-up on a second channel (so the JIT has tiered up the paths), a
/// barrier that everyone passes at once, then the timed messages.
/// </summary>
internal static class ChannelRuns
{
    public const int ReadAll = 0;
    public const int Drain = 1;

    /// <summary>A diagnostic style, not an API recommendation: both sides spin on TryWrite / TryRead and never park, so no futex is ever touched.</summary>
    public const int Spin = 2;

    /// <summary>A SharedChannel producer: warm up, meet, write <c>Count</c> messages, meet the other producers; producer 0 completes the channel.</summary>
    public static async Task<ProducerReport> ProduceChannel<T, TPayload>(
        ((SharedChannel<T> Main, SharedChannel<T> Warm) Channels, (SharedBarrier Warmed, SharedBarrier Go, SharedBarrier Finished, SharedArray<int> Quiet) Gates, (long First, long Count, int WarmupMs, (int Index, int Style) Who) Plan) a)
        where TPayload : IChannelPayload<T>
    {
        await WarmUpAsync<T, TPayload>(a.Channels.Warm.Writer, a.Plan.WarmupMs, a.Plan.Who.Style, a.Gates.Quiet, a.Plan.Who.Index).ConfigureAwait(false);
        await a.Gates.Warmed.SignalAndWaitAsync().ConfigureAwait(false);
        ChannelWriter<T> writer = a.Channels.Main.Writer;
        ProcessCost before = ProcessCost.Now();
        await a.Gates.Go.SignalAndWaitAsync().ConfigureAwait(false);
        long start = Stopwatch.GetTimestamp();
        (long fallbacks, long fallbackTicks) = await WriteAsync<T, TPayload>(writer, a.Plan.First, a.Plan.Count, a.Plan.Who.Style).ConfigureAwait(false);
        long end = Stopwatch.GetTimestamp();
        ProcessCost cost = ProcessCost.Now().Since(before);
        await a.Gates.Finished.SignalAndWaitAsync().ConfigureAwait(false);
        if (a.Plan.Who.Index == 0)
        {
            writer.Complete();
        }
        return new ProducerReport(start, end, fallbacks, fallbackTicks, cost.Gen0, cost.CpuNs, cost.Jitted);
    }

    /// <summary>A SharedChannel consumer: drain the warm-up channel, meet, read until completion.</summary>
    public static async Task<ConsumerReport> ConsumeChannel<T, TPayload>(
        ((SharedChannel<T> Main, SharedChannel<T> Warm) Channels, (SharedBarrier Go, SharedArray<int> Quiet, int Index) Gates, int Style) a)
        where TPayload : IChannelPayload<T>
    {
        using (JitWatch.Start(a.Gates.Quiet, a.Gates.Index))
        {
            await ReadAsync<T, TPayload>(a.Channels.Warm.Reader, a.Style).ConfigureAwait(false);
        }
        ProcessCost before = ProcessCost.Now();
        await a.Gates.Go.SignalAndWaitAsync().ConfigureAwait(false);
        ConsumerReport report = await ReadAsync<T, TPayload>(a.Channels.Main.Reader, a.Style).ConfigureAwait(false);
        long end = Stopwatch.GetTimestamp();
        ProcessCost cost = ProcessCost.Now().Since(before);
        return report with { End = end, Gen0 = cost.Gen0, CpuNs = cost.CpuNs, Jitted = cost.Jitted };
    }

    /// <summary>A pipe producer: warm up on the warm pipe and complete it, meet, send <c>Count</c> messages, complete.</summary>
    public static async Task<ProducerReport> ProducePipe<T, TPayload>(((PipeEnd<T> Main, PipeEnd<T> Warm) Ends, (SharedBarrier Go, SharedArray<int> Quiet) Gates, (long First, long Count, int WarmupMs, (int Index, int Style) Who) Plan) a)
        where TPayload : IChannelPayload<T>
    {
        await WarmUpAsync<T, TPayload>(a.Ends.Warm.Writer, a.Plan.WarmupMs, a.Plan.Who.Style, a.Gates.Quiet, a.Plan.Who.Index).ConfigureAwait(false);
        a.Ends.Warm.Complete();
        ProcessCost before = ProcessCost.Now();
        await a.Gates.Go.SignalAndWaitAsync().ConfigureAwait(false);
        long start = Stopwatch.GetTimestamp();
        (long fallbacks, long fallbackTicks) = await WriteAsync<T, TPayload>(a.Ends.Main.Writer, a.Plan.First, a.Plan.Count, a.Plan.Who.Style).ConfigureAwait(false);
        long end = Stopwatch.GetTimestamp();
        ProcessCost cost = ProcessCost.Now().Since(before);
        a.Ends.Main.Complete();
        return new ProducerReport(start, end, fallbacks, fallbackTicks, cost.Gen0, cost.CpuNs, cost.Jitted);
    }

    /// <summary>A pipe consumer: read the warm pipe to its end, meet, read the main pipe to its end.</summary>
    public static async Task<ConsumerReport> ConsumePipe<T, TPayload>(((PipeEnd<T> Main, PipeEnd<T> Warm) Ends, (SharedBarrier Go, SharedArray<int> Quiet, int Index) Gates, int Style) a)
        where TPayload : IChannelPayload<T>
    {
        using (JitWatch.Start(a.Gates.Quiet, a.Gates.Index))
        {
            await ReadAsync<T, TPayload>(a.Ends.Warm.Reader, a.Style).ConfigureAwait(false);
        }
        ProcessCost before = ProcessCost.Now();
        await a.Gates.Go.SignalAndWaitAsync().ConfigureAwait(false);
        ConsumerReport report = await ReadAsync<T, TPayload>(a.Ends.Main.Reader, a.Style).ConfigureAwait(false);
        long end = Stopwatch.GetTimestamp();
        ProcessCost cost = ProcessCost.Now().Since(before);
        return report with { End = end, Gen0 = cost.Gen0, CpuNs = cost.CpuNs, Jitted = cost.Jitted };
    }

    /// <summary>
    /// Writes warm-up messages for at least <paramref name="milliseconds"/>, and on until the JIT has
    /// gone quiet in every producer and consumer process (<see cref="JitWatch"/>), or for at most
    /// <see cref="MaxWarmUpMs"/>: with 8 processes on 2 cores each gets a quarter of a core, and a
    /// fixed second ended before the tier-1 compiles, so the timed part measured tier-0 code.
    /// </summary>
    private static async Task WarmUpAsync<T, TPayload>(ChannelWriter<T> writer, int milliseconds, int style, SharedArray<int> quiet, int index)
        where TPayload : IChannelPayload<T>
    {
        using JitWatch watch = JitWatch.Start(quiet, index);
        long started = Stopwatch.GetTimestamp();
        long until = started + milliseconds * Stopwatch.Frequency / 1000;
        long cap = started + Math.Max(milliseconds, MaxWarmUpMs) * Stopwatch.Frequency / 1000;
        for (long i = 0; ; i += 256)
        {
            await WriteAsync<T, TPayload>(writer, i, 256, style).ConfigureAwait(false);
            long now = Stopwatch.GetTimestamp();
            if (now >= cap || (now >= until && JitWatch.AllQuiet(quiet)))
            {
                return;
            }
        }
    }

    /// <summary>The longest warm-up when the JIT does not go quiet (a very loaded machine).</summary>
    public const int MaxWarmUpMs = 20_000;

    /// <summary>The producer loop under test: <c>TryWrite</c>, and <c>WriteAsync</c> when the channel is full.</summary>
    private static async ValueTask<(long Fallbacks, long FallbackTicks)> WriteAsync<T, TPayload>(ChannelWriter<T> writer, long first, long count, int style)
        where TPayload : IChannelPayload<T>
    {
        long fallbacks = 0, fallbackTicks = 0;
        if (style == Spin)
        {
            for (long i = first, end = first + count; i < end; i++)
            {
                T item = TPayload.Make(i);
                while (!writer.TryWrite(item))
                {
                    fallbacks++;
                    Thread.SpinWait(1);
                }
            }
            return (fallbacks, 0);
        }
        for (long i = first, end = first + count; i < end; i++)
        {
            T item = TPayload.Make(i);
            if (!writer.TryWrite(item))
            {
                fallbacks++;
                long waited = Stopwatch.GetTimestamp();
                await writer.WriteAsync(item).ConfigureAwait(false);
                fallbackTicks += Stopwatch.GetTimestamp() - waited;
            }
        }
        return (fallbacks, fallbackTicks);
    }

    /// <summary>The consumer loops under test: <c>await foreach (ReadAllAsync)</c>, or <c>WaitToReadAsync</c> + a <c>TryRead</c> drain.</summary>
    private static async ValueTask<ConsumerReport> ReadAsync<T, TPayload>(ChannelReader<T> reader, int style)
        where TPayload : IChannelPayload<T>
    {
        long count = 0, sum = 0;
        if (style == ReadAll)
        {
            await foreach (T item in reader.ReadAllAsync().ConfigureAwait(false))
            {
                count++;
                sum += TPayload.Key(item);
            }
            return new ConsumerReport(count, sum, 0, 0, 0, 0);
        }
        if (style == Spin)
        {
            Task completion = reader.Completion;
            long empty = 0;
            while (true)
            {
                if (reader.TryRead(out T? item))
                {
                    count++;
                    sum += TPayload.Key(item);
                }
                else if (completion.IsCompleted)
                {
                    await completion.ConfigureAwait(false);
                    return new ConsumerReport(count, sum, 0, empty, 0, 0);
                }
                else
                {
                    empty++;
                    Thread.SpinWait(1);
                }
            }
        }
        long syncWaits = 0, asyncWaits = 0, asyncTicks = 0;
        while (true)
        {
            ValueTask<bool> wait = reader.WaitToReadAsync();
            bool more;
            if (wait.IsCompleted)
            {
                syncWaits++;
                more = wait.Result;
            }
            else
            {
                asyncWaits++;
                long waited = Stopwatch.GetTimestamp();
                more = await wait.ConfigureAwait(false);
                asyncTicks += Stopwatch.GetTimestamp() - waited;
            }
            if (!more)
            {
                break;
            }
            while (reader.TryRead(out T? item))
            {
                count++;
                sum += TPayload.Key(item);
            }
        }
        return new ConsumerReport(count, sum, 0, syncWaits, asyncWaits, asyncTicks);
    }
}
