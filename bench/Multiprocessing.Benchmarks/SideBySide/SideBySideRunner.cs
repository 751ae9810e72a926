using System.CommandLine;
using System.Diagnostics;
using System.Globalization;

namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>
/// The pool against CPython's multiprocessing.Pool and the C pipe floor, in one sitting: every
/// measurement alternates our run and the peers' runs round by round (the order flips each round),
/// so the machine's drift hits both sides alike. Prints a markdown report and writes it to
/// docs/benchmarks/pool.md.
/// </summary>
internal static class SideBySideRunner
{
    private const int Workers = 2;
    public const string Command = Results.RunnerModes.Pool;

    public static async Task<int> RunAsync(string[] args)
    {
        SideBySideSettings? settings = SideBySideSettings.Parse(args);
        if (settings is null)
        {
            return 2;
        }
        var total = Stopwatch.StartNew();
        PythonPeer? python = settings.Common.HasPython(Log) ? new PythonPeer(settings.Common.Python, settings.Common.PeerScript) : null;
        (string? floorProgram, string? floorAbsent) = await Floors.PrepareAsync(settings.Common.FloorSources, "pipe_pingpong", Log).ConfigureAwait(false);
        PipeFloor? floor = floorProgram is null ? null : new PipeFloor(floorProgram);
        var results = new SideBySideResults(settings) { LoadAtStart = ProcessCensus.LoadAverage() };

        Log($"Warm pool of {Workers} workers for (a), (a') and (b) ...");
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = Workers });
        try
        {
            await pool.WaitForWorkersAsync().ConfigureAwait(false);
            int[] mapInput = Enumerable.Range(0, settings.MapItems).ToArray();
            int[] singleInput = Enumerable.Range(0, settings.SingleItems).ToArray();
            // Warm-up, as the CPython script warms its pool: the method is registered in both
            // workers, the JIT has compiled the paths, and the pool has measured the task's cost.
            await TimeMapAsync(pool, mapInput, null).ConfigureAwait(false);
            await TimeMapAsync(pool, singleInput[..Math.Min(10_000, singleInput.Length)], 1).ConfigureAwait(false);
            await OurRoundTripAsync(pool, 1000).ConfigureAwait(false);

            for (int round = 0; round < settings.Rounds; round++)
            {
                Log($"(a) map {settings.MapItems:N0} ints, automatic chunks: round {round + 1}/{settings.Rounds}");
                await InterleaveAsync(round,
                    async () => results.MapOurs.Add(settings.MapItems / await TimeMapAsync(pool, mapInput, null).ConfigureAwait(false)),
                    python is null ? null : async () =>
                    {
                        results.MapFork.Add(await python.MapItemsPerSecondAsync("fork", settings.MapItems, null).ConfigureAwait(false));
                        results.MapSpawn.Add(await python.MapItemsPerSecondAsync("spawn", settings.MapItems, null).ConfigureAwait(false));
                    }).ConfigureAwait(false);
            }
            for (int round = 0; round < settings.Rounds; round++)
            {
                Log($"(a') map {settings.SingleItems:N0} ints, chunk size 1: round {round + 1}/{settings.Rounds}");
                await InterleaveAsync(round,
                    async () => results.SingleOurs.Add(settings.SingleItems / await TimeMapAsync(pool, singleInput, 1).ConfigureAwait(false)),
                    python is null ? null : async () =>
                    {
                        results.SingleFork.Add(await python.MapItemsPerSecondAsync("fork", settings.SingleItems, 1).ConfigureAwait(false));
                        if (settings.SpawnThroughput)
                        {
                            results.SingleSpawn.Add(await python.MapItemsPerSecondAsync("spawn", settings.SingleItems, 1).ConfigureAwait(false));
                        }
                    }).ConfigureAwait(false);
            }
            for (int round = 0; round < settings.Rounds; round++)
            {
                Log($"(b) {settings.RoundTrips:N0} sequential round trips: round {round + 1}/{settings.Rounds}");
                await InterleaveAsync(round,
                    async () =>
                    {
                        (double p50, double p99) = await OurRoundTripAsync(pool, settings.RoundTrips).ConfigureAwait(false);
                        results.RoundTripOursP50.Add(p50);
                        results.RoundTripOursP99.Add(p99);
                    },
                    async () =>
                    {
                        if (python is not null)
                        {
                            (double p50, double p99) = await python.RoundTripAsync("fork", settings.RoundTrips).ConfigureAwait(false);
                            results.RoundTripPythonP50.Add(p50);
                            results.RoundTripPythonP99.Add(p99);
                        }
                        if (floor is not null)
                        {
                            (double p50, double p99) = await floor.RoundTripAsync(settings.FloorRoundTrips).ConfigureAwait(false);
                            results.FloorP50.Add(p50);
                            results.FloorP99.Add(p99);
                        }
                    }).ConfigureAwait(false);
            }
            foreach (int pid in pool.WorkerProcessIds)
            {
                results.WorkedOurs.Add(RollupMemory.Read(pid));
            }
        }
        finally
        {
            await DisposeAsync(pool, results, "warm pool").ConfigureAwait(false);
        }

        (string startFile, string[] startArgs) = StartOnceCommand();
        Log($"(c) runs `{startFile} {string.Join(' ', startArgs)}` per round");
        for (int round = 0; round < settings.StartRounds; round++)
        {
            Log($"(c) pool start to first result, fresh processes: round {round + 1}/{settings.StartRounds}");
            await InterleaveAsync(round,
                async () =>
                {
                    ChildOutput output = await ChildProcess.RunCheckedAsync(startFile, startArgs, TimeSpan.FromMinutes(2)).ConfigureAwait(false);
                    using var json = System.Text.Json.JsonDocument.Parse(output.FirstLine);
                    results.StartOurs.Add(json.RootElement.GetProperty("ms").GetDouble());
                    results.Disposals++;
                    if (output.StandardError.Contains(StartOnce.DisposeFailedMarker, StringComparison.Ordinal))
                    {
                        results.DisposeFailures.Add("startonce child: " + output.StandardError.Trim());
                        Log("  the startonce child's DisposeAsync threw: " + output.StandardError.Split('\n')[0]);
                    }
                    results.StartOursWall.Add(output.ToFirstLine.TotalMilliseconds);
                },
                python is null ? null : async () =>
                {
                    (double spawn, double spawnWall) = await python.StartAsync("spawn").ConfigureAwait(false);
                    results.StartSpawn.Add(spawn);
                    results.StartSpawnWall.Add(spawnWall);
                    (double fork, double forkWall) = await python.StartAsync("fork").ConfigureAwait(false);
                    results.StartFork.Add(fork);
                    results.StartForkWall.Add(forkWall);
                }).ConfigureAwait(false);
        }

        for (int round = 0; round < settings.IdleRounds; round++)
        {
            Log($"(d) idle worker memory: round {round + 1}/{settings.IdleRounds}");
            await InterleaveAsync(round,
                async () => results.IdleOurs.AddRange(await OurIdleWorkersAsync(settings.Settle, results).ConfigureAwait(false)),
                python is null ? null : async () =>
                {
                    (IReadOnlyList<RollupMemory> spawn, int sharers) = await python.IdleWorkersAsync("spawn").ConfigureAwait(false);
                    results.IdleSpawn.AddRange(spawn);
                    results.PythonSharers.Add(sharers);
                    results.IdleFork.AddRange((await python.IdleWorkersAsync("fork").ConfigureAwait(false)).Workers);
                }).ConfigureAwait(false);
        }

        total.Stop();
        results.LoadAtEnd = ProcessCensus.LoadAverage();
        var rows = new List<Results.ResultRow>();
        string report = SideBySideReport.Build(settings, results, python, floor, total.Elapsed, await settings.Common.DescribeSourceAsync("src").ConfigureAwait(false), rows);
        Console.WriteLine();
        Console.WriteLine(report);
        if (settings.Common.OutputFile is string file)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            await File.WriteAllTextAsync(file, report).ConfigureAwait(false);
            Log($"Written to {file}");
        }
        await settings.Common.WriteJsonAsync(new Results.RunnerResults { Mode = Command, Rows = rows, Notes = Floors.Notes(floorAbsent) }).ConfigureAwait(false);
        return 0;
    }

    /// <summary>Ours first in rounds 0, 2, 4 …, the peers first in rounds 1, 3, 5 … (0-based), so neither side always runs on a machine the other has just warmed or loaded.</summary>
    private static async Task InterleaveAsync(int round, Func<Task> ours, Func<Task>? peers)
    {
        if (round % 2 == 1 && peers is not null)
        {
            await peers().ConfigureAwait(false);
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        await ours().ConfigureAwait(false);
        if (round % 2 == 0 && peers is not null)
        {
            await peers().ConfigureAwait(false);
        }
    }

    /// <summary>Seconds for one map; checks the results.</summary>
    private static async Task<double> TimeMapAsync(ProcessPool pool, int[] input, int? chunkSize)
    {
        MapOptions? options = chunkSize is int size ? new MapOptions { ChunkSize = size } : null;
        long start = Stopwatch.GetTimestamp();
        int[] results = await pool.MapAsync(Workloads.Double, input, options).ConfigureAwait(false);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (results.Length != input.Length || results[^1] != input[^1] * 2 || results[0] != input[0] * 2)
        {
            throw new InvalidOperationException("MapAsync returned wrong results.");
        }
        return seconds;
    }

    /// <summary>p50 and p99 in microseconds of <paramref name="count"/> submit-then-await round trips.</summary>
    private static async Task<(double P50, double P99)> OurRoundTripAsync(ProcessPool pool, int count)
    {
        var latencies = new double[count];
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            int result = await pool.SubmitAsync(Workloads.Double, i).ConfigureAwait(false);
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            if (result != i * 2)
            {
                throw new InvalidOperationException("SubmitAsync returned a wrong result.");
            }
        }
        Array.Sort(latencies);
        (double p50, double p99, _) = Percentiles.OfSorted(latencies);
        return (p50, p99);
    }

    /// <summary>
    /// Disposes a pool, recording rather than propagating an InvalidOperationException from it: the
    /// measurements taken before stand, and the report lists the failure as a library problem.
    /// </summary>
    private static async Task DisposeAsync(ProcessPool pool, SideBySideResults results, string which)
    {
        results.Disposals++;
        try
        {
            await pool.DisposeAsync().ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            results.DisposeFailures.Add($"{which}: {e}");
            Log($"  DisposeAsync of the {which} threw {e.GetType().Name}: {e.Message}");
        }
    }

    private static async Task<IReadOnlyList<RollupMemory>> OurIdleWorkersAsync(TimeSpan settle, SideBySideResults results)
    {
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = Workers });
        try
        {
            await pool.WaitForWorkersAsync().ConfigureAwait(false);
            await Task.Delay(settle).ConfigureAwait(false);
            IReadOnlyList<int> pids = pool.WorkerProcessIds;
            if (pids.Count != Workers)
            {
                throw new InvalidOperationException($"Expected {Workers} worker process ids after WaitForWorkersAsync, got {pids.Count}.");
            }
            RollupMemory[] memory = [.. pids.Select(RollupMemory.Read)];
            results.DotnetSharers.Add(ProcessCensus.CountMapping("libcoreclr.so"));
            return memory;
        }
        finally
        {
            await DisposeAsync(pool, results, "idle-memory pool").ConfigureAwait(false);
        }
    }

    /// <summary>This program again, as a fresh process: through its apphost, or through dotnet when started that way.</summary>
    private static (string File, string[] Arguments) StartOnceCommand()
    {
        string process = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot tell which executable this process runs.");
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? (process, [typeof(Program).Assembly.Location, StartOnce.Command])
            : (process, [StartOnce.Command]);
    }

    private static void Log(string message) =>
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{DateTime.Now:HH:mm:ss}] {message}"));
}

/// <summary>Every figure the side-by-side run collects, one entry per round (per worker for memory).</summary>
internal sealed class SideBySideResults(SideBySideSettings settings)
{
    public SideBySideSettings Settings { get; } = settings;

    public List<double> MapOurs { get; } = [];
    public List<double> MapFork { get; } = [];
    public List<double> MapSpawn { get; } = [];
    public List<double> SingleOurs { get; } = [];
    public List<double> SingleFork { get; } = [];
    public List<double> SingleSpawn { get; } = [];
    public List<double> RoundTripOursP50 { get; } = [];
    public List<double> RoundTripOursP99 { get; } = [];
    public List<double> RoundTripPythonP50 { get; } = [];
    public List<double> RoundTripPythonP99 { get; } = [];
    public List<double> FloorP50 { get; } = [];
    public List<double> FloorP99 { get; } = [];
    public List<double> StartOurs { get; } = [];
    public List<double> StartOursWall { get; } = [];
    public List<double> StartSpawn { get; } = [];
    public List<double> StartSpawnWall { get; } = [];
    public List<double> StartFork { get; } = [];
    public List<double> StartForkWall { get; } = [];
    public List<RollupMemory> IdleOurs { get; } = [];
    public List<RollupMemory> IdleSpawn { get; } = [];
    public List<RollupMemory> IdleFork { get; } = [];
    public List<RollupMemory> WorkedOurs { get; } = [];

    /// <summary>Processes mapping libcoreclr.so while our idle pools were measured (this one, its workers, and any other .NET process).</summary>
    public List<int> DotnetSharers { get; } = [];

    /// <summary>Processes mapping the CPython executable while its idle workers were measured.</summary>
    public List<int> PythonSharers { get; } = [];

    public string LoadAtStart { get; init; } = "";

    public string LoadAtEnd { get; set; } = "";

    /// <summary>Pools disposed (here and in startonce children), and what was thrown when that failed.</summary>
    public int Disposals { get; set; }

    public List<string> DisposeFailures { get; } = [];
}

/// <summary>Sizes and paths of a side-by-side run.</summary>
internal sealed record SideBySideSettings
{
    public int Rounds { get; init; } = 5;
    public int StartRounds { get; init; } = 7;
    public int IdleRounds { get; init; } = 3;
    public int MapItems { get; init; } = 1_000_000;
    public int SingleItems { get; init; } = 100_000;
    public int RoundTrips { get; init; } = 20_000;
    public int FloorRoundTrips { get; init; } = 100_000;
    public bool SpawnThroughput { get; init; } = true;
    public TimeSpan Settle { get; init; } = TimeSpan.FromMilliseconds(500);
    public required RunnerArguments Common { get; init; }

    public static SideBySideSettings? Parse(string[] args)
    {
        var command = new RunnerCommand(SideBySideRunner.Command, "pool_peer.py", "The pool against CPython's multiprocessing.Pool and the C pipe floor, interleaved.");
        if (command.ParseCommon(args, "pool.md", quickWritesPage: true, out ParseResult parsed) is not { } common)
        {
            return null;
        }
        var settings = new SideBySideSettings { Common = common };
        if (common.Quick)
        {
            // Same sizes where CPython is quick, fewer rounds, and CPython's slow paths (about 25k
            // tasks/s and 250 us round trips here) shortened so the whole run stays near a minute.
            settings = settings with { Rounds = 3, StartRounds = 3, IdleRounds = 2, RoundTrips = 5_000, FloorRoundTrips = 20_000, SpawnThroughput = false };
        }
        return common.Rounds is int rounds ? settings with { Rounds = rounds, StartRounds = rounds } : settings;
    }
}
