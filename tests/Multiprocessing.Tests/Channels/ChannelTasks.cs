using System.Threading.Channels;

namespace Multiprocessing.Tests.Channels;

public sealed record Job(int Id, string Name);

/// <summary>Task methods that run in workers on channels and pipes.</summary>
internal static class ChannelTasks
{
    public static async Task<long> SumAll(SharedChannel<int> channel)
    {
        long sum = 0;
        await foreach (int value in channel.Reader.ReadAllAsync())
        {
            sum += value;
        }
        return sum;
    }

    public static async Task<string> JoinNames(SharedChannel<Job> jobs)
    {
        var names = new List<string>();
        await foreach (Job job in jobs.Reader.ReadAllAsync())
        {
            names.Add($"{job.Id}:{job.Name}");
        }
        return string.Join(",", names);
    }

    /// <summary>Writes (producer, sequence) pairs; the consumer checks each producer's order.</summary>
    public static async Task Produce((SharedChannel<(int Producer, int Sequence)> Channel, int Producer, int Count) a)
    {
        ChannelWriter<(int, int)> writer = a.Channel.Writer;
        for (int i = 0; i < a.Count; i++)
        {
            if (!writer.TryWrite((a.Producer, i)))
            {
                await writer.WriteAsync((a.Producer, i));
            }
        }
    }

    /// <summary>Reads until completion; returns count, a checksum, and whether every producer's messages came in order.</summary>
    public static async Task<(long Count, long Sum, bool InOrder)> Consume((SharedChannel<(int Producer, int Sequence)> Channel, int Producers) a)
    {
        int[] last = new int[a.Producers];
        Array.Fill(last, -1);
        long count = 0, sum = 0;
        bool inOrder = true;
        ChannelReader<(int Producer, int Sequence)> reader = a.Channel.Reader;
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out (int Producer, int Sequence) item))
            {
                inOrder &= item.Sequence > last[item.Producer];
                last[item.Producer] = item.Sequence;
                count++;
                sum += item.Sequence;
            }
        }
        return (count, sum, inOrder);
    }

    /// <summary>Writes as fast as it can until killed.</summary>
    public static void ProduceForever(SharedChannel<long> channel)
    {
        ChannelWriter<long> writer = channel.Writer;
        for (long i = 0; ; i++)
        {
            while (!writer.TryWrite(i * 3))
            {
                Thread.SpinWait(10);
            }
        }
    }

    public static int WriteCount((SharedChannel<int> Channel, int Count) a)
    {
        for (int i = 0; i < a.Count; i++)
        {
            a.Channel.Writer.TryWrite(i);
        }
        return a.Count;
    }

    public static int WriteThenSleep((SharedChannel<int> Channel, int Count) a)
    {
        for (int i = 0; i < a.Count; i++)
        {
            a.Channel.Writer.TryWrite(i);
        }
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    public static async Task<int> Echo(PipeEnd<int> end)
    {
        int echoed = 0;
        try
        {
            while (true)
            {
                int value = await end.ReceiveAsync();
                await end.SendAsync(value * 2);
                echoed++;
            }
        }
        catch (EndOfStreamException)
        {
            end.Complete();
            return echoed;
        }
    }

    public static int HoldPipe(PipeEnd<int> end)
    {
        end.Send(1);
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }
}

/// <summary>Runs in a worker: every public member of disposed channels and pipe ends (see <see cref="DisposedProbe"/>).</summary>
internal static class DisposedChannelTasks
{
    public static string ProbeAfterDispose(string name)
    {
        var probe = new DisposedProbe();

        // Disposed before its writer was ever taken: taking it registers a writer in the ring.
        var fresh = SharedChannel.CreateBounded<int>(new SharedChannelOptions(4));
        ChannelReader<int> reader = fresh.Reader;
        fresh.Dispose();
        probe.Throws("Writer (first time)", () => _ = fresh.Writer);
        probe.Throws("Writer (again)", () => _ = fresh.Writer);
        probe.Throws("BrokenMessages", () => _ = fresh.BrokenMessages);
        ProbeReader(probe, "Reader", reader);
        probe.Safe("Reader", () => fresh.Reader);
        probe.Safe("Capacity", () => fresh.Capacity);
        probe.Safe("MaxMessageSize", () => fresh.MaxMessageSize);
        probe.Safe("FullMode", () => fresh.FullMode);
        probe.Safe("ToString", fresh.ToString);

        // Disposed with its writer taken.
        var used = SharedChannel.CreateBounded<int>(new SharedChannelOptions(4));
        ChannelWriter<int> writer = used.Writer;
        writer.TryWrite(1);
        used.Dispose();
        ProbeWriter(probe, "Writer (taken before)", writer);
        probe.Throws("BrokenMessages (writer taken)", () => _ = used.BrokenMessages);
        ProbeReader(probe, "Reader (writer taken)", used.Reader);

        // Opened by name; the creator disposes it, which closes it in every process.
        var created = SharedChannel.CreateBounded<int>(new SharedChannelOptions(4), name);
        SharedChannel<int> opened = SharedChannel.Open<int>(name);
        created.Dispose();
        probe.Throws("opened: Writer (first time)", () => _ = opened.Writer);
        probe.Throws("opened: BrokenMessages", () => _ = opened.BrokenMessages);
        ProbeReader(probe, "opened: Reader", opened.Reader);
        opened.Dispose();
        probe.Throws("opened and disposed: Writer", () => _ = opened.Writer);

        // Pipe ends: one disposed while the other lives on, then both.
        (PipeEnd<int> left, PipeEnd<int> right) = Pipe.Create<int>();
        left.Dispose();
        ProbePipeEnd(probe, "left (right alive)", left);
        probe.Safe("right sends while left is disposed", () => right.TrySend(1) ? "" : throw new InvalidOperationException("the live end could not send"));
        right.Dispose();
        ProbePipeEnd(probe, "right", right);
        return probe.Report;
    }

    private static void ProbeReader(DisposedProbe probe, string what, ChannelReader<int> reader)
    {
        probe.Throws($"{what}.TryRead", () => reader.TryRead(out _));
        probe.Throws($"{what}.Count", () => _ = reader.Count);
        probe.ThrowsAsync($"{what}.ReadAsync", () => reader.ReadAsync().AsTask());
        probe.ThrowsAsync($"{what}.WaitToReadAsync", () => reader.WaitToReadAsync().AsTask());
        probe.ThrowsAsync($"{what}.Completion", () => reader.Completion);
        probe.ThrowsAsync($"{what}.ReadAllAsync", async () =>
        {
            await foreach (int _ in reader.ReadAllAsync())
            {
            }
        });
    }

    private static void ProbeWriter(DisposedProbe probe, string what, ChannelWriter<int> writer)
    {
        probe.Throws($"{what}.TryWrite", () => writer.TryWrite(2));
        probe.ThrowsAsync($"{what}.WriteAsync", () => writer.WriteAsync(2).AsTask());
        probe.ThrowsAsync($"{what}.WaitToWriteAsync", () => writer.WaitToWriteAsync().AsTask());
        probe.Throws($"{what}.TryComplete", () => writer.TryComplete());
        probe.Throws($"{what}.Complete", () => writer.Complete());
    }

    private static void ProbePipeEnd(DisposedProbe probe, string what, PipeEnd<int> end)
    {
        probe.Throws($"{what}.TrySend", () => end.TrySend(1));
        probe.Throws($"{what}.Send", () => end.Send(1));
        probe.ThrowsAsync($"{what}.SendAsync", () => end.SendAsync(1).AsTask());
        probe.Throws($"{what}.TryReceive", () => end.TryReceive(out _));
        probe.Throws($"{what}.Receive", () => end.Receive());
        probe.ThrowsAsync($"{what}.ReceiveAsync", () => end.ReceiveAsync().AsTask());
        probe.ThrowsAsync($"{what}.ReceiveAllAsync", async () =>
        {
            await foreach (int _ in end.ReceiveAllAsync())
            {
            }
        });
        probe.Throws($"{what}.Complete", () => end.Complete());
        ProbeReader(probe, $"{what}.Reader", end.Reader);
        ProbeWriter(probe, $"{what}.Writer", end.Writer);
        probe.Safe($"{what}.End", () => end.End);
        probe.Safe($"{what}.ToString", end.ToString);
    }
}
