using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>
/// <c>channels [--quick]</c>: SharedChannel and Pipe against CPython's multiprocessing.Queue,
/// SimpleQueue and Pipe, and the C shared-memory ring floor, in one sitting. Every cell (payload ×
/// producers/consumers) alternates our runs and the peers' runs round by round (the order flips
/// each round). Prints a markdown report and writes it to docs/benchmarks/channels.md.
/// <c>channels profile</c>: where the time of one message goes (see <see cref="ChannelProfile"/>).
/// </summary>
internal static class ChannelRunner
{
    public const string Command = Results.RunnerModes.Channels;

    private const string Usage =
        "channels run IMPL PAYLOAD PAIRS COUNT [--warmup MIN_MS] [--capacity N]   (IMPL: channel-readall | channel-drain | pipe-drain | pipe-readall | channel-spin; prints one JSON line)\n" +
        "channels profile [--count N]";

    private static readonly TimeSpan s_runTimeout = TimeSpan.FromMinutes(3);

    /// <summary><c>channels run … --capacity N</c>: another channel capacity than the payload's, to see how often the sides park.</summary>
    private static int? s_capacity;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.FirstOrDefault() == "profile")
        {
            return await ChannelProfile.RunAsync(args[1..]).ConfigureAwait(false);
        }
        if (args.FirstOrDefault() == "run")
        {
            return await RunOneAsync(args[1..]).ConfigureAwait(false);
        }
        ChannelSettings? settings = ChannelSettings.Parse(args);
        if (settings is null)
        {
            Console.Error.WriteLine("or:    " + Usage);
            return 2;
        }
        var total = Stopwatch.StartNew();
        ChannelPythonPeer? python = settings.Common.HasPython(Log, "CPython rows will be n/a") ? new ChannelPythonPeer(settings.Common.Python, settings.Common.PeerScript) : null;
        (string? floorProgram, string? floorAbsent) = await Floors.PrepareAsync(settings.Common.FloorSources, "ring_spsc", Log, "floor rows will be n/a").ConfigureAwait(false);
        RingFloor? floor = floorProgram is null ? null : new RingFloor(floorProgram);
        var results = new ChannelResults(settings) { LoadAtStart = ProcessCensus.LoadAverage() };

        for (int round = 0; round < settings.Rounds; round++)
        {
            results.RoundLoads.Add(ProcessCensus.LoadAverage().Split(' ')[0]);
            foreach (string payload in settings.Payloads)
            {
                foreach (int pairs in settings.Topologies)
                {
                    long count = ChannelPayloads.IsLarge(payload) ? settings.LargeMessages : settings.SmallMessages;
                    var cell = new ChannelCell(payload, pairs);
                    Log($"{payload}, {pairs}→{pairs}, {count:N0} messages: round {round + 1}/{settings.Rounds}");
                    await InterleaveAsync(round,
                        async () =>
                        {
                            foreach (string impl in OurImplementations)
                            {
                                OurRun run = await RunOursAsync(impl, payload, pairs, count, settings.WarmupMs).ConfigureAwait(false);
                                results.Add(cell, "ours " + impl, run.MessagesPerSecond);
                                results.AddWaits(cell, impl, run);
                            }
                        },
                        async () =>
                        {
                            // Both 100-byte records face the same pickled dict: it is measured in the first
                            // record cell of the round and its figures stand in the second cell too.
                            string[] records = settings.Payloads.Where(p => PythonPayload(p) == "record").ToArray();
                            bool isRecord = PythonPayload(payload) == "record";
                            bool measuredAlready = isRecord && records[0] != payload;
                            if (python is not null && !measuredAlready)
                            {
                                ChannelCell[] cells = isRecord ? records.Select(p => new ChannelCell(p, pairs)).ToArray() : [cell];
                                foreach (string kind in PythonKinds)
                                {
                                    PythonRun run = await python.RunAsync(kind, PythonPayload(payload), pairs, count).ConfigureAwait(false);
                                    foreach (ChannelCell target in cells)
                                    {
                                        results.Add(target, "cpython " + kind, run.MessagesPerSecond);
                                        if (kind == "queue")
                                        {
                                            results.Add(target, "cpython queue put loop", run.PutLoopPerSecond);
                                        }
                                    }
                                    results.PythonWireBytes[PythonPayload(payload)] = run.WireBytes;
                                }
                            }
                            if (floor is not null && payload == LongPayload.Name && pairs == 1)
                            {
                                results.Add(cell, "floor spin", await floor.RunAsync(settings.FloorMessages, futex: false).ConfigureAwait(false));
                                results.Add(cell, "floor futex", await floor.RunAsync(settings.FloorMessages, futex: true).ConfigureAwait(false));
                            }
                        }).ConfigureAwait(false);
                }
            }
        }

        total.Stop();
        results.LoadAtEnd = ProcessCensus.LoadAverage();
        results.WireBytes = ChannelProfile.WireBytes();
        string report = ChannelReport.Build(settings, results, python, floor, total.Elapsed, await settings.Common.DescribeSourceAsync("src", " (not in the channel code this measures)").ConfigureAwait(false));
        Console.WriteLine();
        Console.WriteLine(report);
        if (settings.Common.OutputFile is string file)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            // The profile findings below the marker are written by hand: a new run keeps them.
            if (File.Exists(file) && (await File.ReadAllTextAsync(file).ConfigureAwait(false)) is var previous && previous.IndexOf(ChannelReport.KeepBelow, StringComparison.Ordinal) is int at and >= 0)
            {
                report = report.TrimEnd() + "\n\n" + previous[at..];
            }
            await File.WriteAllTextAsync(file, report).ConfigureAwait(false);
            Log($"Written to {file}");
        }
        await settings.Common.WriteJsonAsync(ChannelReport.ToResults(settings, results) with { Notes = Floors.Notes(floorAbsent) }).ConfigureAwait(false);
        return 0;
    }

    /// <summary>Our variants, in report order: the two consumer styles on a SharedChannel, and Pipe pairs.</summary>
    public static readonly string[] OurImplementations = ["channel-readall", "channel-drain", "pipe-drain"];

    /// <summary>CPython's variants, in report order.</summary>
    public static readonly string[] PythonKinds = ["queue", "simplequeue", "pipe"];

    /// <summary>The CPython payload that stands beside ours: both 100-byte records face one pickled dict.</summary>
    public static string PythonPayload(string payload) => payload switch
    {
        "long" => "int",
        "quote100" or "order-json" or "order-memorypack" or "order-memorypack-utf16" => "record",
        _ => "bytes64k",
    };

    /// <summary><c>channels run …</c>: one of our runs, alone, as a JSON line (for perf / strace around a single run).</summary>
    private static async Task<int> RunOneAsync(string[] args)
    {
        if (args.Length < 4 || !int.TryParse(args[2], CultureInfo.InvariantCulture, out int pairs) || !long.TryParse(args[3], CultureInfo.InvariantCulture, out long count))
        {
            Console.Error.WriteLine("usage: " + Usage);
            return 2;
        }
        int warmup = 1000;
        for (int i = 4; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--warmup":
                    warmup = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--capacity":
                    s_capacity = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                default:
                    Console.Error.WriteLine("usage: " + Usage);
                    return 2;
            }
        }
        OurRun run = await RunOursAsync(args[0], args[1], pairs, count, warmup).ConfigureAwait(false);
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            impl = args[0],
            payload = args[1],
            pairs,
            count,
            capacity = s_capacity,
            msgs_per_s = run.MessagesPerSecond,
            seconds = run.Seconds,
            producer_fallbacks = run.Fallbacks,
            producer_fallback_ms = run.FallbackMs,
            consumer_sync_waits = run.SyncWaits,
            consumer_async_waits = run.AsyncWaits,
            consumer_async_wait_ms = run.AsyncWaitMs,
            producer_gen0 = run.ProducerGen0,
            consumer_gen0 = run.ConsumerGen0,
            producer_cpu_ns_per_msg = run.ProducerCpuNsPerMessage,
            consumer_cpu_ns_per_msg = run.ConsumerCpuNsPerMessage,
            // Methods the JIT compiled in the timed part (all producers, all consumers): tiering still under way if large.
            producer_jitted = run.ProducerJitted,
            consumer_jitted = run.ConsumerJitted,
            load = ProcessCensus.LoadAverage(),
            // CLOCK_MONOTONIC (Stopwatch's clock on Linux), for `perf record -k CLOCK_MONOTONIC` windows.
            window_monotonic_s = new[] { run.StartTimestamp / (double)Stopwatch.Frequency, run.EndTimestamp / (double)Stopwatch.Frequency },
        }));
        return 0;
    }

    public static Task<OurRun> RunOursAsync(string impl, string payload, int pairs, long count, int warmupMs) => payload switch
    {
        "long" => RunOursAsync<long, LongPayload>(impl, pairs, count, warmupMs),
        "quote100" => RunOursAsync<Quote, QuotePayload>(impl, pairs, count, warmupMs),
        "order-json" => RunOursAsync<Order, OrderPayload>(impl, pairs, count, warmupMs),
        "order-memorypack" => RunOursAsync<PackedOrder, PackedOrderPayload>(impl, pairs, count, warmupMs),
        "order-memorypack-utf16" => RunOursAsync<PackedOrder, PackedOrderUtf16Payload>(impl, pairs, count, warmupMs),
        "bytes64k" => RunOursAsync<byte[], BlobPayload>(impl, pairs, count, warmupMs),
        _ => throw new ArgumentException($"Unknown payload '{payload}' ({string.Join(", ", ChannelPayloads.All)})."),
    };

    private static Task<OurRun> RunOursAsync<T, TPayload>(string impl, int pairs, long count, int warmupMs)
        where TPayload : IChannelPayload<T> => impl switch
    {
        "channel-readall" => RunChannelAsync<T, TPayload>(pairs, count, ChannelRuns.ReadAll, warmupMs),
        "channel-drain" => RunChannelAsync<T, TPayload>(pairs, count, ChannelRuns.Drain, warmupMs),
        "pipe-drain" => RunPipesAsync<T, TPayload>(pairs, count, ChannelRuns.Drain, warmupMs),
        "pipe-readall" => RunPipesAsync<T, TPayload>(pairs, count, ChannelRuns.ReadAll, warmupMs),
        "channel-spin" => RunChannelAsync<T, TPayload>(pairs, count, ChannelRuns.Spin, warmupMs),
        _ => throw new ArgumentException($"Unknown implementation '{impl}'."),
    };

    /// <summary><paramref name="pairs"/> producer processes and as many consumer processes on one SharedChannel.</summary>
    private static async Task<OurRun> RunChannelAsync<T, TPayload>(int pairs, long count, int style, int warmupMs)
        where TPayload : IChannelPayload<T>
    {
        var options = new SharedChannelOptions(s_capacity ?? TPayload.Capacity) { MaxMessageSize = TPayload.MaxMessageSize, Serializer = TPayload.Serializer };
        using SharedChannel<T> main = SharedChannel.CreateBounded<T>(options);
        using SharedChannel<T> warm = SharedChannel.CreateBounded<T>(options);
        using SharedBarrier warmed = SharedBarrier.Create(pairs + 1);
        using SharedBarrier go = SharedBarrier.Create(2 * pairs + 1);
        using SharedBarrier finished = SharedBarrier.Create(pairs);
        using SharedArray<int> quiet = SharedArray<int>.Create(2 * pairs); // producers 0..pairs-1, consumers pairs..2·pairs-1
        long each = count / pairs;
        var consumers = new List<WorkerProcess<ConsumerReport>>();
        var producers = new List<WorkerProcess<ProducerReport>>();
        try
        {
            for (int i = 0; i < pairs; i++)
            {
                consumers.Add(WorkerProcess.Start(ChannelRuns.ConsumeChannel<T, TPayload>, ((main, warm), (go, quiet, pairs + i), style)));
            }
            for (int i = 0; i < pairs; i++)
            {
                producers.Add(WorkerProcess.Start(ChannelRuns.ProduceChannel<T, TPayload>, ((main, warm), (warmed, go, finished, quiet), (i * each, each, warmupMs, (i, style)))));
            }
            WorkerProcess[] all = [.. consumers, .. producers];
            await WhileAllRunAsync(warmed.SignalAndWaitAsync(s_runTimeout).AsTask(), all, "the warm-up").ConfigureAwait(false);
            warm.Writer.Complete();
            await WhileAllRunAsync(go.SignalAndWaitAsync(s_runTimeout).AsTask(), all, "the start barrier").ConfigureAwait(false);
            ProducerReport[] sent = await Task.WhenAll(producers.Select(p => p.Result)).WaitAsync(s_runTimeout).ConfigureAwait(false);
            ConsumerReport[] received = await Task.WhenAll(consumers.Select(c => c.Result)).WaitAsync(s_runTimeout).ConfigureAwait(false);
            if (main.BrokenMessages != 0)
            {
                throw new InvalidOperationException($"{main.BrokenMessages} broken messages.");
            }
            return OurRun.From<T, TPayload>(each * pairs, sent, received);
        }
        finally
        {
            Dispose(consumers.Concat<WorkerProcess>(producers));
        }
    }

    /// <summary><paramref name="pairs"/> independent Pipe pairs, one producer and one consumer process each.</summary>
    private static async Task<OurRun> RunPipesAsync<T, TPayload>(int pairs, long count, int style, int warmupMs)
        where TPayload : IChannelPayload<T>
    {
        var options = new SharedChannelOptions(s_capacity ?? TPayload.Capacity) { MaxMessageSize = TPayload.MaxMessageSize, Serializer = TPayload.Serializer };
        var ends = new List<PipeEnd<T>>();
        using SharedBarrier go = SharedBarrier.Create(2 * pairs + 1);
        using SharedArray<int> quiet = SharedArray<int>.Create(2 * pairs);
        long each = count / pairs;
        var consumers = new List<WorkerProcess<ConsumerReport>>();
        var producers = new List<WorkerProcess<ProducerReport>>();
        try
        {
            for (int i = 0; i < pairs; i++)
            {
                (PipeEnd<T> mainLeft, PipeEnd<T> mainRight) = Pipe.Create<T>(options);
                (PipeEnd<T> warmLeft, PipeEnd<T> warmRight) = Pipe.Create<T>(options);
                ends.AddRange([mainLeft, mainRight, warmLeft, warmRight]);
                consumers.Add(WorkerProcess.Start(ChannelRuns.ConsumePipe<T, TPayload>, ((mainRight, warmRight), (go, quiet, pairs + i), style)));
                producers.Add(WorkerProcess.Start(ChannelRuns.ProducePipe<T, TPayload>, ((mainLeft, warmLeft), (go, quiet), (i * each, each, warmupMs, (i, style)))));
            }
            await WhileAllRunAsync(go.SignalAndWaitAsync(s_runTimeout).AsTask(), [.. consumers, .. producers], "the start barrier").ConfigureAwait(false);
            ProducerReport[] sent = await Task.WhenAll(producers.Select(p => p.Result)).WaitAsync(s_runTimeout).ConfigureAwait(false);
            ConsumerReport[] received = await Task.WhenAll(consumers.Select(c => c.Result)).WaitAsync(s_runTimeout).ConfigureAwait(false);
            return OurRun.From<T, TPayload>(each * pairs, sent, received);
        }
        finally
        {
            Dispose(consumers.Concat<WorkerProcess>(producers));
            foreach (PipeEnd<T> end in ends)
            {
                end.Dispose();
            }
        }
    }

    /// <summary>Awaits <paramref name="task"/>, but fails at once if a worker ends first (a crash would otherwise leave the barrier waiting).</summary>
    private static async Task WhileAllRunAsync(Task task, IReadOnlyList<WorkerProcess> workers, string what)
    {
        Task anyEnded = Task.WhenAny(workers.Select(w => w.Completion));
        if (await Task.WhenAny(task, anyEnded).ConfigureAwait(false) != task)
        {
            Task ended = await ((Task<Task>)anyEnded).ConfigureAwait(false);
            await ended.ConfigureAwait(false); // throws the worker's error
            throw new InvalidOperationException($"A worker returned before {what}.");
        }
        await task.ConfigureAwait(false);
    }

    private static void Dispose(IEnumerable<WorkerProcess> workers)
    {
        foreach (WorkerProcess worker in workers)
        {
            if (!worker.WaitForExit(TimeSpan.FromSeconds(5)))
            {
                worker.Kill();
            }
            worker.Dispose();
        }
    }

    /// <summary>Ours first in rounds 0, 2, 4 …, the peers first in rounds 1, 3, 5 …</summary>
    private static async Task InterleaveAsync(int round, Func<Task> ours, Func<Task> peers)
    {
        if (round % 2 == 1)
        {
            await peers().ConfigureAwait(false);
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        await ours().ConfigureAwait(false);
        if (round % 2 == 0)
        {
            await peers().ConfigureAwait(false);
        }
    }

    public static void Log(string message) =>
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{DateTime.Now:HH:mm:ss}] {message}"));
}

/// <summary>One of our runs: throughput from the first producer's start to the last consumer's end, and the wait statistics.</summary>
internal sealed record OurRun(double MessagesPerSecond, double Seconds, long Fallbacks, double FallbackMs, long SyncWaits, long AsyncWaits, double AsyncWaitMs,
    long ProducerGen0, long ConsumerGen0, double ProducerCpuNsPerMessage, double ConsumerCpuNsPerMessage, long StartTimestamp, long EndTimestamp,
    long ProducerJitted = 0, long ConsumerJitted = 0)
{
    public static OurRun From<T, TPayload>(long expected, ProducerReport[] sent, ConsumerReport[] received)
        where TPayload : IChannelPayload<T>
    {
        long count = received.Sum(r => r.Count);
        long sum = received.Sum(r => r.Sum);
        long each = expected / sent.Length;
        long expectedSum = Enumerable.Range(0, sent.Length).Sum(p => TPayload.ExpectedSum(p * each, each));
        if (count != expected || sum != expectedSum)
        {
            throw new InvalidOperationException($"{TPayload.Name}: received {count:N0} messages with checksum {sum}, expected {expected:N0} with {expectedSum}.");
        }
        long start = sent.Min(s => s.Start);
        long end = received.Max(r => r.End);
        double seconds = (end - start) / (double)Stopwatch.Frequency;
        return new OurRun(expected / seconds, seconds,
            sent.Sum(s => s.Fallbacks), sent.Sum(s => s.FallbackTicks) * 1000.0 / Stopwatch.Frequency,
            received.Sum(r => r.SyncWaits), received.Sum(r => r.AsyncWaits), received.Sum(r => r.AsyncTicks) * 1000.0 / Stopwatch.Frequency,
            sent.Sum(s => s.Gen0), received.Sum(r => r.Gen0), sent.Sum(s => s.CpuNs) / (double)expected, received.Sum(r => r.CpuNs) / (double)expected, start, end,
            sent.Sum(s => s.Jitted), received.Sum(r => r.Jitted));
    }
}

/// <summary>The CPython peer: bench/python/channel_peer.py, one fresh interpreter per run.</summary>
internal sealed class ChannelPythonPeer(string python, string script)
{
    public string Python { get; } = python;

    public string? Version { get; private set; }

    public string? StartMethod { get; private set; }

    public async Task<PythonRun> RunAsync(string kind, string payload, int pairs, long count)
    {
        ChildOutput output = await ChildProcess.RunCheckedAsync(Python,
            [script, "run", "--kind", kind, "--payload", payload, "--producers", Inv(pairs), "--consumers", Inv(pairs), "--n", Inv(count)], TimeSpan.FromMinutes(5)).ConfigureAwait(false);
        using var json = JsonDocument.Parse(output.FirstLine);
        JsonElement root = json.RootElement;
        Version = root.GetProperty("python").GetString();
        StartMethod = root.GetProperty("start").GetString();
        return new PythonRun(root.GetProperty("msgs_per_s").GetDouble(), root.GetProperty("put_msgs_per_s").GetDouble(), root.GetProperty("wire_bytes").GetInt32());
    }

    private static string Inv(long value) => value.ToString(CultureInfo.InvariantCulture);
}

internal sealed record PythonRun(double MessagesPerSecond, double PutLoopPerSecond, int WireBytes);

/// <summary>The C floor: bench/floors/ring_spsc, 8-byte messages through a shared-memory ring between two processes.</summary>
internal sealed partial class RingFloor(string program)
{
    public string Program { get; } = program;

    /// <summary>Messages per second.</summary>
    public async Task<double> RunAsync(long count, bool futex)
    {
        string[] arguments = futex ? [count.ToString(CultureInfo.InvariantCulture), "futex"] : [count.ToString(CultureInfo.InvariantCulture)];
        ChildOutput output = await ChildProcess.RunCheckedAsync(Program, arguments, TimeSpan.FromMinutes(2)).ConfigureAwait(false);
        Match match = Line().Match(output.FirstLine);
        if (!match.Success || output.FirstLine.Contains("MISMATCH", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"Unexpected output from {Program}: {output.FirstLine}");
        }
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) * 1e6;
    }

    [GeneratedRegex(@"([0-9.]+) M msgs/s")]
    private static partial Regex Line();
}

/// <summary>One cell of the report: a payload and a number of producer/consumer pairs.</summary>
internal readonly record struct ChannelCell(string Payload, int Pairs);

/// <summary>Every figure the channel run collects: messages/s per cell, per implementation, one per round.</summary>
internal sealed class ChannelResults(ChannelSettings settings)
{
    public ChannelSettings Settings { get; } = settings;

    public Dictionary<(ChannelCell Cell, string Impl), List<double>> Rates { get; } = [];

    /// <summary>Our drain-style and producer statistics per cell and implementation, one per round.</summary>
    public Dictionary<(ChannelCell Cell, string Impl), List<OurRun>> Runs { get; } = [];

    public Dictionary<string, int> PythonWireBytes { get; } = [];

    public IReadOnlyDictionary<string, int> WireBytes { get; set; } = new Dictionary<string, int>();

    public string LoadAtStart { get; init; } = "";

    public string LoadAtEnd { get; set; } = "";

    public List<string> RoundLoads { get; } = [];

    public void Add(ChannelCell cell, string impl, double rate)
    {
        if (!Rates.TryGetValue((cell, impl), out List<double>? list))
        {
            Rates[(cell, impl)] = list = [];
        }
        list.Add(rate);
    }

    public void AddWaits(ChannelCell cell, string impl, OurRun run)
    {
        if (!Runs.TryGetValue((cell, impl), out List<OurRun>? list))
        {
            Runs[(cell, impl)] = list = [];
        }
        list.Add(run);
    }

    public IReadOnlyList<double> Get(ChannelCell cell, string impl) => Rates.TryGetValue((cell, impl), out List<double>? list) ? list : [];
}

/// <summary>Sizes and paths of a channel run.</summary>
internal sealed record ChannelSettings
{
    public int Rounds { get; init; } = 5;
    public long SmallMessages { get; init; } = 500_000;
    public long LargeMessages { get; init; } = 20_000;
    public long FloorMessages { get; init; } = 20_000_000;
    public int WarmupMs { get; init; } = 1000;
    public IReadOnlyList<string> Payloads { get; init; } = ChannelPayloads.All;
    public IReadOnlyList<int> Topologies { get; init; } = [1, 4];
    public required RunnerArguments Common { get; init; }

    public static ChannelSettings? Parse(string[] args)
    {
        var command = new RunnerCommand(ChannelRunner.Command, "channel_peer.py", "SharedChannel and Pipe against CPython's Queue, SimpleQueue and Pipe and the C ring floor.");
        var only = new Option<string[]?>("--only")
        {
            Description = $"Payloads to run (comma-separated): {string.Join(", ", ChannelPayloads.All)}.",
            HelpName = "PAYLOAD[,PAYLOAD]",
            CustomParser = result =>
            {
                string[] names = result.Tokens.Count == 1 ? result.Tokens[0].Value.Split(',') : [];
                if (names.Length == 0 || !names.All(ChannelPayloads.All.Contains))
                {
                    result.AddError($"--only: choose from {string.Join(", ", ChannelPayloads.All)}.");
                }
                return names;
            },
        };
        var small = new Option<long?>("--small") { Description = "Small messages per run (default 500,000).", HelpName = "N" };
        small.Validators.Add(r => { if (r.GetValueOrDefault<long?>() is <= 0) { r.AddError("--small: give a positive number."); } });
        command.Options.Add(only);
        command.Options.Add(small);
        if (command.ParseCommon(args, "channels.md", quickWritesPage: false, out ParseResult parsed) is not { } common)
        {
            return null;
        }
        var settings = new ChannelSettings { Common = common };
        if (common.Quick)
        {
            // One round of everything, small counts: a smoke test of the whole matrix, not a measurement.
            // Three payloads (the 100-byte struct takes the 8-byte path's code), 50,000 small messages: under a minute.
            settings = settings with
            {
                Rounds = 1, SmallMessages = 50_000, LargeMessages = 2_000, FloorMessages = 5_000_000, WarmupMs = 150,
                Payloads = [LongPayload.Name, OrderPayload.Name, BlobPayload.Name],
            };
        }
        return settings with
        {
            Rounds = common.Rounds ?? settings.Rounds,
            // An array option not given reads as an empty array, not null.
            Payloads = parsed.GetValue(only) is { Length: > 0 } payloads ? payloads : settings.Payloads,
            SmallMessages = parsed.GetValue(small) ?? settings.SmallMessages,
        };
    }
}
