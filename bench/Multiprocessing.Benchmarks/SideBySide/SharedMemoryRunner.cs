using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>
/// <c>sharedmem [--quick]</c>: the shared-memory benchmarks of issue 3 beside CPython, in one sitting.
/// (1) Handing 1 MiB, 100 MiB and 1 GiB to a task on a warm pool of 2: a <see cref="SharedArray{T}"/>
/// (descriptor) vs a serialised <c>double[]</c>, against CPython's <c>shared_memory</c> by name and
/// a pickled numpy array. (2) Total PSS of 1, 2, 4, 8 workers each holding a 1 GiB dataset after
/// reading all of it: one shared array vs a copy per worker, against CPython's list and numpy
/// array inherited by fork and <c>shared_memory</c>. Every run is a fresh child process (ours:
/// <c>sharedmem child …</c>; theirs: bench/python/shared_peer.py), ours and theirs alternating.
/// </summary>
internal static class SharedMemoryRunner
{
    public const string Command = Results.RunnerModes.SharedMemory;

    private static readonly TimeSpan s_childTimeout = TimeSpan.FromMinutes(10);

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.FirstOrDefault() == SharedMemoryChild.Command)
        {
            return await SharedMemoryChild.RunAsync(args[1..]).ConfigureAwait(false);
        }
        SharedMemorySettings? settings = SharedMemorySettings.Parse(args);
        if (settings is null)
        {
            return 2;
        }
        var total = Stopwatch.StartNew();
        bool python = settings.Common.HasPython(Log);
        var results = new SharedMemoryResults(settings) { LoadAtStart = ProcessCensus.LoadAverage(), MemoryAtStart = Meminfo.Describe() };
        Log($"Memory at start: {results.MemoryAtStart}");
        (string self, string[] selfArgs) = SelfCommand();
        string sizes = string.Join(',', settings.Sizes.Select(Inv));

        if (!settings.SkipHandoff)
        {
            for (int round = 0; round < settings.Rounds; round++)
            {
                Log($"(1) handing {string.Join(", ", settings.Sizes.Select(Units))} to a task: round {round + 1}/{settings.Rounds}");
                bool probe = round == 0 && settings.ProbeLimit;
                await InterleaveAsync(round,
                    async () =>
                    {
                        await WaitForMemoryAsync(settings.Sizes.Max() * 7, "our handoff round").ConfigureAwait(false);
                        JsonElement json = await RunJsonAsync(self, [.. selfArgs, Command, SharedMemoryChild.Command, "handoff", "--sizes", sizes,
                            "--touch-repeats", Inv(settings.TouchRepeats), "--repeats", Inv(settings.Repeats), "--settle-ms", Inv(settings.SettleMs), .. probe ? new[] { "--probe-limit" } : []]).ConfigureAwait(false);
                        results.HandoffOurs.Add(json);
                        LogHandoff("ours", json, "shared_touch_first_ms", "shared_touch_ms", "copy_touch_ms");
                    },
                    !python ? null : async () =>
                    {
                        await WaitForMemoryAsync(settings.Sizes.Max() * 5, "CPython's handoff round").ConfigureAwait(false);
                        JsonElement json = await RunJsonAsync(settings.Common.Python, [settings.Common.PeerScript, "handoff", "--sizes", sizes,
                            "--touch-repeats", Inv(settings.TouchRepeats), "--repeats", Inv(settings.Repeats), "--settle", (settings.SettleMs / 1000.0).ToString(CultureInfo.InvariantCulture)]).ConfigureAwait(false);
                        results.HandoffPython.Add(json);
                        LogHandoff("CPython", json, "shm_touch_first_ms", "shm_touch_ms", "pickle_touch_ms");
                        results.PythonVersion ??= $"CPython {json.GetProperty("python").GetString()}, numpy {json.GetProperty("numpy").GetString()}";
                    }).ConfigureAwait(false);
            }
        }

        if (!settings.SkipMemory)
        {
            // Cases of one worker count in a different order each round, ours and CPython's alternating.
            (string Side, string Mode)[] cases = [("ours", "shared"), ("cpython", "numpy"), ("ours", "copied"), ("cpython", "shm"), ("cpython", "list")];
            foreach (int workers in settings.WorkerCounts)
            {
                for (int round = 0; round < settings.MemoryRounds; round++)
                {
                    IEnumerable<(string Side, string Mode)> order = round % 2 == 0 ? cases : cases.Reverse();
                    foreach ((string side, string mode) in order)
                    {
                        if (side == "cpython" && !python)
                        {
                            continue;
                        }
                        Log($"(2) {workers} worker(s), {side} {mode}: round {round + 1}/{settings.MemoryRounds}");
                        await RunMemoryCaseAsync(settings, results, self, selfArgs, side, mode, workers).ConfigureAwait(false);
                    }
                }
            }
        }

        total.Stop();
        results.LoadAtEnd = ProcessCensus.LoadAverage();
        string report = SharedMemoryReport.Build(results, total.Elapsed, await settings.Common.DescribeSourceAsync("src/Multiprocessing").ConfigureAwait(false));
        Console.WriteLine();
        Console.WriteLine(report);
        if (settings.RawFile is string raw)
        {
            var all = new Dictionary<string, object>
            {
                ["handoff_ours"] = results.HandoffOurs,
                ["handoff_cpython"] = results.HandoffPython,
                ["memory"] = results.Memory,
                ["failures"] = results.Failures,
            };
            await File.WriteAllTextAsync(raw, JsonSerializer.Serialize(all)).ConfigureAwait(false);
            Log($"Raw figures written to {raw}");
        }
        string handWritten = "";
        if (settings.Common.OutputFile is string file)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            string kept = File.Exists(file) ? SharedMemoryReport.HandWritten(await File.ReadAllTextAsync(file).ConfigureAwait(false)) : "";
            await File.WriteAllTextAsync(file, report + kept).ConfigureAwait(false);
            Log($"Written to {file}{(kept.Length > 0 ? " (the hand-written notes below its marker kept)" : "")}");
            handWritten = kept;
        }
        await settings.Common.WriteJsonAsync(SharedMemoryReport.ToResults(results, handWritten)).ConfigureAwait(false);
        return results.Failures.Count == 0 ? 0 : 1;
    }

    private static async Task RunMemoryCaseAsync(SharedMemorySettings settings, SharedMemoryResults results, string self, string[] selfArgs, string side, string mode, int workers)
    {
        long bytes = settings.MemoryBytes;
        long need = mode switch
        {
            "copied" => workers * bytes,
            "list" => bytes + workers * bytes * 4 / 5,
            _ => bytes,
        } + (1L << 30);
        string what = $"{side} {mode}, {workers} worker(s)";
        if (!await WaitForMemoryAsync(need, what).ConfigureAwait(false))
        {
            results.Failures.Add($"{what}: skipped, the machine did not have {Units(need)} available ({Meminfo.Describe()})");
            return;
        }
        try
        {
            JsonElement json = side == "ours"
                ? await RunJsonAsync(self, [.. selfArgs, Command, SharedMemoryChild.Command, "memory", "--mode", mode, "--workers", Inv(workers), "--bytes", Inv(bytes)]).ConfigureAwait(false)
                : await RunJsonAsync(settings.Common.Python, [settings.Common.PeerScript, "memory", "--mode", mode, "--workers", Inv(workers), "--bytes", Inv(bytes)]).ConfigureAwait(false);
            MemoryRun run = MemoryRun.From(side, json);
            results.Memory.Add(run);
            Log(Inv($"    total PSS {run.TotalHeld / RollupMemory.MiB:0} MiB (parent {run.ParentHeld / RollupMemory.MiB:0}, workers {string.Join(" ", run.WorkersHeld.Select(w => (w / RollupMemory.MiB).ToString("0", CultureInfo.InvariantCulture)))}); idle worker {run.IdleWorker / RollupMemory.MiB:0.0} MiB; read in {run.ReadMs:0} ms"));
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or JsonException or KeyNotFoundException)
        {
            results.Failures.Add($"{what}: {e.Message}");
            Log($"    failed: {e.Message}");
        }
    }

    private static void LogHandoff(string who, JsonElement json, string first, string later, string copy)
    {
        IEnumerable<string> parts = json.GetProperty("sizes").EnumerateArray().Select(row => string.Create(CultureInfo.InvariantCulture,
            $"{Units(row.GetProperty("bytes").GetInt64())}: by descriptor {row.GetProperty(first).GetDouble():0.###} / {row.GetProperty(later).GetDouble():0.###} ms, copied {row.GetProperty(copy).GetDouble():0.#} ms"));
        Log($"    {who}: {string.Join("; ", parts)}");
    }

    /// <summary>Ours first in rounds 0, 2, 4 …, CPython first in rounds 1, 3, 5 ….</summary>
    private static async Task InterleaveAsync(int round, Func<Task> ours, Func<Task>? peer)
    {
        if (round % 2 == 1 && peer is not null)
        {
            await peer().ConfigureAwait(false);
        }
        await ours().ConfigureAwait(false);
        if (round % 2 == 0 && peer is not null)
        {
            await peer().ConfigureAwait(false);
        }
    }

    private static async Task<JsonElement> RunJsonAsync(string file, string[] arguments)
    {
        ChildOutput output = await ChildProcess.RunCheckedAsync(file, arguments, s_childTimeout).ConfigureAwait(false);
        string line = output.StandardOutput.Split('\n').LastOrDefault(l => l.TrimStart().StartsWith('{')) ?? throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} printed no JSON: {output.StandardOutput}");
        using var json = JsonDocument.Parse(line);
        return json.RootElement.Clone();
    }

    /// <summary>Waits (up to a minute) until the machine has <paramref name="bytes"/> available: other people's tests come and go.</summary>
    private static async Task<bool> WaitForMemoryAsync(long bytes, string what)
    {
        for (int i = 0; i < 12; i++)
        {
            if (Meminfo.Available() >= bytes)
            {
                return true;
            }
            Log($"    {what} needs about {Units(bytes)}; {Meminfo.Describe()}: waiting");
            await Task.Delay(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        return Meminfo.Available() >= bytes;
    }

    /// <summary>This program again, through its apphost, or through dotnet when started that way.</summary>
    private static (string File, string[] Arguments) SelfCommand()
    {
        string process = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot tell which executable this process runs.");
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? (process, [typeof(Program).Assembly.Location])
            : (process, []);
    }

    public static string Units(long bytes) => bytes switch
    {
        >= 1L << 30 when bytes % (1L << 30) == 0 => Inv($"{bytes >> 30} GiB"),
        >= 1L << 20 when bytes % (1L << 20) == 0 => Inv($"{bytes >> 20} MiB"),
        >= 1L << 30 => Inv($"{bytes / (double)(1L << 30):0.0} GiB"),
        _ => Inv($"{bytes / (double)(1L << 20):0.0} MiB"),
    };

    private static string Inv(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static void Log(string message) =>
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{DateTime.Now:HH:mm:ss}] {message}"));
}

/// <summary>/proc/meminfo, for the machine line of the report and the check before each big case.</summary>
internal static class Meminfo
{
    public static long Available() => Read("MemAvailable");

    public static long Total() => Read("MemTotal");

    public static string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"{Available() / (double)(1L << 30):0.0} GiB available of {Total() / (double)(1L << 30):0.0} GiB");

    private static long Read(string field) => Multiprocessing.Interop.ProcFs.ReadMemInfo().GetValueOrDefault(field);
}

/// <summary>One memory run: PSS in bytes of the parent and each worker while the workers hold the data, and of idle workers.</summary>
internal sealed record MemoryRun(
    string Side, string Mode, int Workers, long DatasetBytes, long Elements, int DistinctWorkers, double ReadMs,
    double IdleWorker, long IdleParent, long ParentWithData, long ParentHeld, IReadOnlyList<long> WorkersHeld,
    IReadOnlyList<long> WorkersHeldShmem, long Helpers, int RuntimeSharers)
{
    public long TotalHeld => ParentHeld + WorkersHeld.Sum();

    public static MemoryRun From(string side, JsonElement json)
    {
        JsonElement idle = json.GetProperty("idle");
        JsonElement held = json.GetProperty("held");
        long[] idleWorkers = [.. idle.GetProperty("workers").EnumerateArray().Select(w => w.GetProperty("pss").GetInt64())];
        long helpers = held.TryGetProperty("helpers", out JsonElement h) ? h.EnumerateArray().Sum(x => x.GetProperty("pss").GetInt64()) : 0;
        return new MemoryRun(
            side,
            json.GetProperty("mode").GetString()!,
            json.GetProperty("workers").GetInt32(),
            json.GetProperty("dataset_bytes").GetInt64(),
            json.GetProperty("elements").GetInt64(),
            json.GetProperty("distinct_workers").GetInt32(),
            json.GetProperty("read_ms").GetDouble(),
            idleWorkers.Average(),
            idle.GetProperty("parent").GetProperty("pss").GetInt64(),
            json.GetProperty("parent_with_data").GetProperty("pss").GetInt64(),
            held.GetProperty("parent").GetProperty("pss").GetInt64(),
            [.. held.GetProperty("workers").EnumerateArray().Select(w => w.GetProperty("pss").GetInt64())],
            [.. held.GetProperty("workers").EnumerateArray().Select(w => w.GetProperty("pss_shmem").GetInt64())],
            helpers,
            json.TryGetProperty("runtime_sharers", out JsonElement sharers) ? sharers.GetInt32() : 0);
    }
}

/// <summary>Everything a <c>sharedmem</c> run collects.</summary>
internal sealed class SharedMemoryResults(SharedMemorySettings settings)
{
    public SharedMemorySettings Settings { get; } = settings;

    /// <summary>One JSON object per round from <c>sharedmem child handoff</c>.</summary>
    public List<JsonElement> HandoffOurs { get; } = [];

    /// <summary>One JSON object per round from <c>shared_peer.py handoff</c>.</summary>
    public List<JsonElement> HandoffPython { get; } = [];

    public List<MemoryRun> Memory { get; } = [];

    public List<string> Failures { get; } = [];

    public string? PythonVersion { get; set; }

    public string LoadAtStart { get; init; } = "";

    public string LoadAtEnd { get; set; } = "";

    public string MemoryAtStart { get; init; } = "";
}

/// <summary>Sizes, counts and paths of a <c>sharedmem</c> run.</summary>
internal sealed record SharedMemorySettings
{
    public int Rounds { get; init; } = 5;
    public int MemoryRounds { get; init; } = 3;
    public int TouchRepeats { get; init; } = 100;
    public int Repeats { get; init; } = 3;
    public int SettleMs { get; init; } = 1000;
    public long[] Sizes { get; init; } = [1L << 20, 100L << 20, 1L << 30];
    public int[] WorkerCounts { get; init; } = [1, 2, 4, 8];
    public long MemoryBytes { get; init; } = 1L << 30;
    public bool ProbeLimit { get; init; } = true;
    public bool SkipHandoff { get; init; }
    public bool SkipMemory { get; init; }
    public required RunnerArguments Common { get; init; }
    public string? RawFile { get; init; }

    public static SharedMemorySettings? Parse(string[] args)
    {
        var command = new RunnerCommand(SharedMemoryRunner.Command, "shared_peer.py", "Shared memory against CPython: handing data to a task; PSS of N workers reading one dataset.");
        var memRounds = new Option<int?>("--mem-rounds") { Description = "Runs per memory case (default 3).", HelpName = "N" };
        var sizes = new Option<long[]?>("--sizes") { Description = "Hand-off sizes in bytes (default 1 MiB, 100 MiB, 1 GiB).", HelpName = "B,B,…", CustomParser = r => ParseList(r, long.Parse, v => v >= 4096 && v % 8 == 0 && v / 8 <= Array.MaxLength) };
        var workers = new Option<int[]?>("--workers") { Description = "Worker counts of the memory cases (default 1,2,4,8).", HelpName = "N,N,…", CustomParser = r => ParseList(r, int.Parse, v => v is > 0 and <= 64) };
        var memBytes = new Option<long?>("--mem-bytes") { Description = "The dataset of the memory cases (default 1 GiB).", HelpName = "B" };
        var skipHandoff = new Option<bool>("--skip-handoff") { Description = "Leave out section 1." };
        var skipMemory = new Option<bool>("--skip-memory") { Description = "Leave out section 2." };
        var raw = new Option<string?>("--raw") { Description = "Write every run's JSON there.", HelpName = "FILE" };
        memRounds.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is <= 0) { r.AddError("--mem-rounds: give a positive number."); } });
        memBytes.Validators.Add(r => { if (r.GetValueOrDefault<long?>() is < 1 << 20) { r.AddError("--mem-bytes: give at least 1 MiB (1048576)."); } });
        foreach (Option option in new Option[] { memRounds, sizes, workers, memBytes, skipHandoff, skipMemory, raw })
        {
            command.Options.Add(option);
        }
        // A quick run is a smoke test: it never overwrites the figures of a full sitting.
        if (command.ParseCommon(args, "shared-memory.md", quickWritesPage: false, out ParseResult parsed) is not { } common)
        {
            return null;
        }
        var settings = new SharedMemorySettings { Common = common };
        if (common.Quick)
        {
            settings = settings with
            {
                Rounds = 3, MemoryRounds = 1, TouchRepeats = 50, Repeats = 1, SettleMs = 200, Sizes = [1L << 20, 32L << 20], WorkerCounts = [1, 2], MemoryBytes = 128L << 20, ProbeLimit = false,
            };
        }
        settings = settings with
        {
            Rounds = common.Rounds ?? settings.Rounds,
            MemoryRounds = parsed.GetValue(memRounds) ?? settings.MemoryRounds,
            WorkerCounts = parsed.GetValue(workers) is { Length: > 0 } counts ? counts : settings.WorkerCounts,
            MemoryBytes = parsed.GetValue(memBytes) ?? settings.MemoryBytes,
            SkipHandoff = parsed.GetValue(skipHandoff),
            SkipMemory = parsed.GetValue(skipMemory),
            RawFile = parsed.GetValue(raw) is { } rawFile ? Path.GetFullPath(rawFile) : null,
        };
        // An array option not given reads as an empty array, not null.
        if (parsed.GetValue(sizes) is { Length: > 0 } handoffSizes)
        {
            settings = settings with { Sizes = handoffSizes, ProbeLimit = settings.ProbeLimit && handoffSizes.Max() >= 1L << 30 };
        }
        return settings;
    }

    /// <summary>A comma-separated list of numbers each of which passes <paramref name="valid"/>; null with an error otherwise.</summary>
    private static T[]? ParseList<T>(System.CommandLine.Parsing.ArgumentResult result, Func<string, IFormatProvider, T> parse, Func<T, bool> valid)
    {
        string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        try
        {
            T[] values = [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => parse(s, CultureInfo.InvariantCulture))];
            if (values.Length > 0 && values.All(valid))
            {
                return values;
            }
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
        }
        result.AddError($"{((System.CommandLine.Parsing.OptionResult)result.Parent!).Option.Name}: '{text}' is not a valid list.");
        return null;
    }
}
