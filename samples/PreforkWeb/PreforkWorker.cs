using System.Net;
using System.Net.Sockets;
using Multiprocessing;

namespace PreforkWeb;

/// <summary>
/// What runs inside each worker process: a Kestrel minimal API on 127.0.0.1:port, bound with
/// SO_REUSEPORT so that every worker listens on the same port and the kernel spreads connections
/// across them. Each request reads a random slice of the dataset.
/// </summary>
public static class PreforkWorker
{
    /// <summary>How many elements one request adds up.</summary>
    public const int SliceLength = 100_000;

    // Linux: SOL_SOCKET = 1, SO_REUSEPORT = 15. .NET names SO_REUSEADDR but not SO_REUSEPORT.
    private const int SolSocket = 1;
    private const int SoReusePort = 15;

    // The worker's dataset, reachable for the life of the worker, as a loaded service's data is.
    private static long[]? s_copy;
    private static SharedArray<long>? s_shared;
    private static long s_checksum;

    /// <summary>The sum of the whole dataset this worker read at start (shared mode), kept so the read is not optimised away.</summary>
    public static long Checksum => s_checksum;

    /// <summary>Worker entry point, copied mode: builds its own managed <c>long[items]</c>, then serves.</summary>
    /// <param name="task">The element count, the port, and the parent's ready counter and stop flag.</param>
    /// <returns>Completes when the parent asked the worker to stop and Kestrel has stopped.</returns>
    public static Task ServeCopiedAsync((int Items, int Port, SharedValue<int> Ready, SharedValue<int> Stop) task)
    {
        long[] copy = new long[task.Items];
        Fill(copy, 0);
        s_copy = copy;
        return ServeAsync(task.Port, task.Ready, task.Stop);
    }

    /// <summary>Worker entry point, shared mode: the argument carries a descriptor, and the worker maps the parent's pages.</summary>
    /// <param name="task">The parent's array, the port, and the parent's ready counter and stop flag.</param>
    /// <returns>Completes when the parent asked the worker to stop and Kestrel has stopped.</returns>
    public static Task ServeSharedAsync((SharedArray<long> Data, int Port, SharedValue<int> Ready, SharedValue<int> Stop) task)
    {
        s_shared = task.Data;
        // Read every element once, as the copied mode does when it fills its array, so that both
        // modes have touched the whole dataset before the first request.
        long total = 0;
        for (long start = 0; start < task.Data.Length; start += SliceLength)
        {
            total += SumSlice(start, (int)Math.Min(SliceLength, task.Data.Length - start));
        }
        s_checksum = total;
        return ServeAsync(task.Port, task.Ready, task.Stop);
    }

    /// <summary>Fills a dataset: element i holds offset + i, as the seed's <c>list(range(10_000_000))</c>.</summary>
    /// <param name="data">Where to write.</param>
    /// <param name="offset">The value of the first element.</param>
    public static void Fill(Span<long> data, long offset)
    {
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = offset + i;
        }
    }

    /// <summary>Creates a TCP socket bound to <paramref name="endpoint"/> with SO_REUSEADDR and SO_REUSEPORT set before the bind.</summary>
    /// <param name="endpoint">The address and port.</param>
    /// <returns>The bound (not yet listening) socket.</returns>
    public static Socket BindReusePort(EndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
            if (endpoint.AddressFamily == AddressFamily.InterNetwork || endpoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.NoDelay = true;
            }
            socket.Bind(endpoint);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task ServeAsync(int port, SharedValue<int> ready, SharedValue<int> stop)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseSockets(options => options.CreateBoundListenSocket = BindReusePort);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        WebApplication app = builder.Build();

        app.MapGet("/", () =>
        {
            long length = DataLength;
            long start = Random.Shared.NextInt64(0, Math.Max(1, length - SliceLength + 1));
            long sum = SumSlice(start, (int)Math.Min(SliceLength, length - start));
            return $"{Environment.ProcessId} {start} {sum}\n";
        });
        app.MapGet("/pid", () => Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));

        await app.StartAsync().ConfigureAwait(false);
        Interlocked.Increment(ref ready.Value);
        // The parent raises the stop flag on Ctrl+C / SIGTERM; polling a shared word needs nothing
        // but the memory the sample is about. (If the parent dies, the library ends this process.)
        while (Volatile.Read(ref stop.Value) == 0)
        {
            await Task.Delay(50).ConfigureAwait(false);
        }
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await app.StopAsync(grace.Token).ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
    }

    private static long DataLength => s_shared?.Length ?? s_copy?.LongLength ?? 0;

    private static long SumSlice(long start, int length)
    {
        ReadOnlySpan<long> slice = s_shared is { } shared ? shared.AsReadOnlySpan(start, length) : s_copy.AsSpan((int)start, length);
        long sum = 0;
        foreach (long value in slice)
        {
            sum += value;
        }
        return sum;
    }
}
