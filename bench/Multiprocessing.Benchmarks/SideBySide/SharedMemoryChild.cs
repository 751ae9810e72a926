using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>
/// Our side of <c>sharedmem</c>, run as a fresh child process per round (as the CPython side runs
/// one interpreter per round), printing one JSON object:
/// <list type="bullet">
/// <item><c>sharedmem child handoff --sizes B1,B2,… [--touch-repeats 100] [--repeats 3] [--settle-ms 1000] [--probe-limit]</c>: on a warm
/// pool of 2, the SubmitAsync → result round trip of a task that touches one element, and of one
/// that reads every element, of a dataset passed as a <see cref="SharedArray{T}"/> (a descriptor)
/// or as a serialised <c>double[]</c> (a copy).</item>
/// <item><c>sharedmem child memory --mode shared|copied --workers N --bytes B</c>: the kernel's PSS
/// of the parent and N workers while every worker holds the dataset after reading all of it.</item>
/// </list>
/// </summary>
internal static class SharedMemoryChild
{
    public const string Command = "child";

    public static async Task<int> RunAsync(string[] args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] is "--probe-limit")
            {
                flags.Add(args[i]);
            }
            else if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length)
            {
                options[args[i]] = args[++i];
            }
            else
            {
                Console.Error.WriteLine($"sharedmem child: unexpected argument '{args[i]}'");
                return 2;
            }
        }
        Dictionary<string, object?> result = args.FirstOrDefault() switch
        {
            "handoff" => await HandoffAsync(
                [.. options.GetValueOrDefault("--sizes", "1048576").Split(',').Select(s => long.Parse(s, CultureInfo.InvariantCulture))],
                int.Parse(options.GetValueOrDefault("--touch-repeats", "100"), CultureInfo.InvariantCulture),
                int.Parse(options.GetValueOrDefault("--repeats", "3"), CultureInfo.InvariantCulture),
                int.Parse(options.GetValueOrDefault("--settle-ms", "1000"), CultureInfo.InvariantCulture),
                flags.Contains("--probe-limit")).ConfigureAwait(false),
            "memory" => await MemoryAsync(
                options.GetValueOrDefault("--mode", "shared"),
                int.Parse(options.GetValueOrDefault("--workers", "2"), CultureInfo.InvariantCulture),
                long.Parse(options.GetValueOrDefault("--bytes", (1L << 30).ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture),
                int.Parse(options.GetValueOrDefault("--settle-ms", "500"), CultureInfo.InvariantCulture),
                int.Parse(options.GetValueOrDefault("--items-per-worker", "2"), CultureInfo.InvariantCulture)).ConfigureAwait(false),
            _ => throw new ArgumentException("usage: sharedmem child handoff|memory …"),
        };
        result["dotnet"] = Environment.Version.ToString();
        Console.Out.WriteLine(JsonSerializer.Serialize(result));
        Console.Out.Flush();
        return 0;
    }

    private static async Task<Dictionary<string, object?>> HandoffAsync(long[] sizes, int touchRepeats, int repeatsUpTo512MiB, int settleMs, bool probeLimit)
    {
        var result = new Dictionary<string, object?> { ["workers"] = 2 };
        if (probeLimit)
        {
            result["default_limit_probe"] = await ProbeDefaultLimitAsync(sizes.Max()).ConfigureAwait(false);
        }
        // MaxMessageSize raised to its ceiling so that a 1 GiB double[] (1 GiB + a few header bytes) may cross at all.
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, MaxMessageSize = int.MaxValue });
        await pool.WaitForWorkersAsync().ConfigureAwait(false);

        // Warm: every method registered in the workers and the paths exercised, often enough (with a
        // pause for the background compiler) that the JIT has moved the task methods and the pool's
        // paths to their optimised tier; a sum over 1 MiB in tier-0 code would cost milliseconds.
        using (SharedArray<double> tiny = SharedArray<double>.Create(128))
        {
            SharedMemoryTasks.Fill(tiny);
            double[] tinyCopy = tiny.ToArray();
            for (int i = 0; i < 200; i++)
            {
                await pool.SubmitAsync(Workloads.Double, i).ConfigureAwait(false);
            }
            for (int round = 0; round < 2; round++)
            {
                for (int i = 0; i < 75; i++)
                {
                    await pool.SubmitAsync(SharedMemoryTasks.TouchShared, tiny).ConfigureAwait(false);
                    await pool.SubmitAsync(SharedMemoryTasks.SumShared, tiny).ConfigureAwait(false);
                    await pool.SubmitAsync(SharedMemoryTasks.TouchCopy, tinyCopy).ConfigureAwait(false);
                    await pool.SubmitAsync(SharedMemoryTasks.SumCopy, tinyCopy).ConfigureAwait(false);
                }
                await Task.Delay(300).ConfigureAwait(false);
            }
        }

        // All sizes by descriptor first, then all by copy, so that no descriptor round trip runs in a
        // worker still holding the garbage of a copied one.
        Dictionary<long, Dictionary<string, object?>> rows = sizes.Distinct().ToDictionary(size => size, size => new Dictionary<string, object?> { ["bytes"] = size });
        foreach ((long size, Dictionary<string, object?> row) in rows)
        {
            // (a) a SharedArray argument: a descriptor crosses; the worker maps the segment on first sight.
            long n = size / sizeof(double);
            double last = SharedMemoryTasks.ValueAt(n - 1);
            double expectedSum = SharedMemoryTasks.ExpectedSum(n);
            using SharedArray<double> shared = SharedArray<double>.Create(n);
            SharedMemoryTasks.Fill(shared);
            // A pause before the clock: the worker drops its mapping of the previous size's array in
            // a sweep that runs every second (a GC and the unmapping of what it had faulted in);
            // that belongs to releasing the previous array, not to handing over this one.
            await Task.Delay(settleMs).ConfigureAwait(false);
            row["shared_touch_first_ms"] = await TimeAsync(() => pool.SubmitAsync(SharedMemoryTasks.TouchShared, shared), last).ConfigureAwait(false);
            row["shared_touch_ms"] = await MedianAsync(touchRepeats, () => pool.SubmitAsync(SharedMemoryTasks.TouchShared, shared), last).ConfigureAwait(false);
            row["shared_sum_first_ms"] = await TimeAsync(() => pool.SubmitAsync(SharedMemoryTasks.SumShared, shared), expectedSum).ConfigureAwait(false);
            row["shared_sum_ms"] = await MedianAsync(Repeats(size), () => pool.SubmitAsync(SharedMemoryTasks.SumShared, shared), expectedSum).ConfigureAwait(false);
        }
        foreach ((long size, Dictionary<string, object?> row) in rows)
        {
            // (b) a double[] argument: serialised into the message, read into a new array in the worker.
            await CopyHandoffAsync(pool, size / sizeof(double), Repeats(size), row).ConfigureAwait(false);
            Collect();
            if (size == sizes.Max())
            {
                // What the processes keep after the largest serialised arguments, once their garbage is collected.
                await pool.SubmitAsync(SharedMemoryTasks.CollectGarbage).ConfigureAwait(false);
                row["after_copies"] = Describe(pool.GetMemoryUsage());
                row["parent_gc_live_bytes"] = GC.GetTotalMemory(forceFullCollection: true);
                // The GC returns freed memory to the kernel over its next collections, not at once:
                // the same figures after a few more, in both processes.
                for (int i = 0; i < 5; i++)
                {
                    Collect();
                    await pool.SubmitAsync(SharedMemoryTasks.CollectGarbage).ConfigureAwait(false);
                    await Task.Delay(200).ConfigureAwait(false);
                }
                row["after_copies_more_gcs"] = Describe(pool.GetMemoryUsage());
            }
        }
        result["sizes"] = rows.Values.ToList();
        return result;

        int Repeats(long size) => size >= 512L << 20 ? 1 : repeatsUpTo512MiB;
    }

    private static async Task CopyHandoffAsync(ProcessPool pool, long n, int repeats, Dictionary<string, object?> row)
    {
        double[] copy = GC.AllocateUninitializedArray<double>(checked((int)n));
        SharedMemoryTasks.Fill(copy, 0);
        double last = SharedMemoryTasks.ValueAt(n - 1);
        row["copy_touch_first_ms"] = await TimeAsync(() => pool.SubmitAsync(SharedMemoryTasks.TouchCopy, copy), last).ConfigureAwait(false);
        row["copy_touch_ms"] = await MedianAsync(repeats, () => pool.SubmitAsync(SharedMemoryTasks.TouchCopy, copy), last).ConfigureAwait(false);
        row["copy_sum_ms"] = await MedianAsync(repeats, () => pool.SubmitAsync(SharedMemoryTasks.SumCopy, copy), SharedMemoryTasks.ExpectedSum(n)).ConfigureAwait(false);
    }

    /// <summary>What a pool with the default MaxMessageSize does with the largest serialised double[].</summary>
    private static async Task<Dictionary<string, object?>> ProbeDefaultLimitAsync(long size)
    {
        var probe = new Dictionary<string, object?> { ["bytes"] = size };
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        probe["max_message_size"] = pool.Options.MaxMessageSize;
        await pool.WaitForWorkersAsync().ConfigureAwait(false);
        double[] copy = GC.AllocateUninitializedArray<double>(checked((int)(size / sizeof(double))));
        SharedMemoryTasks.Fill(copy, 0);
        long start = Stopwatch.GetTimestamp();
        try
        {
            double value = await pool.SubmitAsync(SharedMemoryTasks.TouchCopy, copy).ConfigureAwait(false);
            probe["outcome"] = "accepted";
            probe["value"] = value;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InsufficientMemoryException or OutOfMemoryException)
        {
            probe["outcome"] = "refused";
            probe["exception"] = e.GetType().FullName;
            probe["message"] = e.Message;
        }
        probe["ms"] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        return probe;
    }

    private static async Task<Dictionary<string, object?>> MemoryAsync(string mode, int workers, long bytes, int settleMs, int itemsPerWorker)
    {
        if (mode is not ("shared" or "copied"))
        {
            throw new ArgumentException($"--mode must be shared or copied, not {mode}");
        }
        bool shared = mode == "shared";
        long length = bytes / sizeof(double);
        int items = workers * itemsPerWorker;
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = workers });
        await pool.WaitForWorkersAsync().ConfigureAwait(false);
        using SharedArray<int> control = SharedArray<int>.Create(SharedMemoryTasks.FirstPidSlot + items);
        var mapOptions = new MapOptions { ChunkSize = 1 };

        // Warm-up: the same task on a tiny dataset in every worker (released at once, and taking a
        // few milliseconds so that the pool sizes its per-worker queue for long tasks).
        control[SharedMemoryTasks.ReleaseSlot] = 1;
        var warmPids = new HashSet<int>();
        using (SharedArray<double> tiny = SharedArray<double>.Create(1024))
        {
            SharedMemoryTasks.Fill(tiny);
            for (int round = 0; round < 2; round++)
            {
                (double Sum, int Pid)[] warm = shared
                    ? await pool.MapAsync(SharedMemoryTasks.HoldShared, Enumerable.Repeat((tiny, control, 5), workers * 2), mapOptions).ConfigureAwait(false)
                    : await pool.MapAsync(SharedMemoryTasks.HoldOwnCopy, Enumerable.Repeat((1024L, control, 5), workers * 2), mapOptions).ConfigureAwait(false);
                warmPids.UnionWith(warm.Select(w => w.Pid));
            }
        }
        await Task.Delay(settleMs).ConfigureAwait(false);
        PoolMemoryUsage idle = pool.GetMemoryUsage();

        SharedArray<double>? data = null;
        try
        {
            if (shared)
            {
                data = SharedArray<double>.Create(length);
                SharedMemoryTasks.Fill(data);
            }
            MemoryUsage parentWithData = ProcessMemory.ReadCurrent();
            control[SharedMemoryTasks.ArrivedSlot] = 0;
            control[SharedMemoryTasks.ReleaseSlot] = 0;

            long start = Stopwatch.GetTimestamp();
            // Each worker holds at most two tasks at a time when tasks are long, and takes them in
            // slot order, so 2 × N items put one waiting task at the head of every worker's queue
            // (N items would put two on each of the first N/2 workers, which then wait forever).
            Task<(double Sum, int Pid)[]> run = shared
                ? pool.MapAsync(SharedMemoryTasks.HoldShared, Enumerable.Repeat((data!, control, 0), items), mapOptions)
                : pool.MapAsync(SharedMemoryTasks.HoldOwnCopy, Enumerable.Repeat((length, control, 0), items), mapOptions);
            TimeSpan limit = TimeSpan.FromSeconds(itemsPerWorker >= 2 ? 600 : 60);
            while (Volatile.Read(ref control.GetReference(SharedMemoryTasks.ArrivedSlot)) < workers)
            {
                if (run.IsCompleted)
                {
                    await run.ConfigureAwait(false);
                    throw new InvalidOperationException("The tasks finished without all workers arriving.");
                }
                if (Stopwatch.GetElapsedTime(start) > limit)
                {
                    int arrived = Volatile.Read(ref control.GetReference(SharedMemoryTasks.ArrivedSlot));
                    control[SharedMemoryTasks.ReleaseSlot] = 1;
                    throw new TimeoutException(
                        $"Only {arrived} of {workers} workers started one of the {items} tasks within {limit.TotalSeconds:0} s: the rest are queued behind waiting tasks.");
                }
                await Task.Delay(10).ConfigureAwait(false);
            }
            double readMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            PoolMemoryUsage held = pool.GetMemoryUsage();
            // PSS splits the runtime's code pages among every process that maps them, other people's included.
            int runtimeSharers = ProcessCensus.CountMapping("libcoreclr.so");
            int[] arrivedPids = [.. Enumerable.Range(SharedMemoryTasks.FirstPidSlot, workers).Select(i => control[i])];
            control[SharedMemoryTasks.ReleaseSlot] = 1;
            (double Sum, int Pid)[] results = await run.ConfigureAwait(false);
            double expected = SharedMemoryTasks.ExpectedSum(length);
            if (results.Any(r => r.Sum != expected))
            {
                throw new InvalidOperationException($"A worker summed {results.First(r => r.Sum != expected).Sum}, expected {expected}.");
            }
            return new Dictionary<string, object?>
            {
                ["mode"] = mode,
                ["workers"] = workers,
                ["dataset_bytes"] = length * sizeof(double),
                ["elements"] = length,
                ["items"] = items,
                ["distinct_workers"] = arrivedPids.Distinct().Count(),
                ["warmed_workers"] = warmPids.Count,
                ["read_ms"] = readMs,
                ["idle"] = Describe(idle),
                ["parent_before_data"] = Describe(idle.Parent),
                ["parent_with_data"] = Describe(parentWithData),
                ["held"] = Describe(held),
                ["runtime_sharers"] = runtimeSharers,
            };
        }
        finally
        {
            control[SharedMemoryTasks.ReleaseSlot] = 1;
            data?.Dispose();
        }
    }

    private static async Task<double> TimeAsync(Func<Task<double>> call, double expected)
    {
        long start = Stopwatch.GetTimestamp();
        double value = await call().ConfigureAwait(false);
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        if (value != expected)
        {
            throw new InvalidOperationException($"The task returned {value}, expected {expected}.");
        }
        return ms;
    }

    private static async Task<double> MedianAsync(int count, Func<Task<double>> call, double expected)
    {
        var times = new double[count];
        for (int i = 0; i < count; i++)
        {
            times[i] = await TimeAsync(call, expected).ConfigureAwait(false);
        }
        return Summary.Of(times)!.Value.Median;
    }

    private static void Collect()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
    }

    private static Dictionary<string, object?> Describe(PoolMemoryUsage usage) => new()
    {
        ["parent"] = Describe(usage.Parent),
        ["workers"] = usage.Workers.Select(Describe).ToList(),
    };

    private static Dictionary<string, object?> Describe(MemoryUsage m) => new()
    {
        ["pid"] = m.ProcessId,
        ["rss"] = m.Rss,
        ["pss"] = m.Pss,
        ["uss"] = m.Uss,
        ["pss_shmem"] = m.PssShmem ?? 0,
    };
}
