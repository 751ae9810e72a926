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
