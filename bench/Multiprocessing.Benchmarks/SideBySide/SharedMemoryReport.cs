using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Multiprocessing.Interop;

namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>The markdown report of <c>sharedmem</c>: machine, commands, the tables, the DESIGN target checks and every run's figures.</summary>
internal static class SharedMemoryReport
{
    /// <summary>Everything after this line in an existing report is written by hand and kept when the runner rewrites the file.</summary>
    public const string NotesMarker = "<!-- Hand-written notes below this line are kept when `sharedmem` rewrites this file. -->";

    private const double MiB = 1024.0 * 1024.0;

    /// <summary>DESIGN section 5: N workers reading one shared 1 GiB array cost at most 1 GiB + N × idle worker + 5 %.</summary>
    private const double Slack = 1.05;

    /// <summary>"Constant time": a 100× larger array may cost at most this much more to hand over (a copy costs about 100×).</summary>
    private const double ConstantRatio = 1.5;

    public static string HandWritten(string existing)
    {
        int at = existing.IndexOf(NotesMarker, StringComparison.Ordinal);
        if (at < 0)
        {
            return "";
        }
        int lineEnd = existing.IndexOf('\n', at);
        return lineEnd < 0 ? "" : existing[(lineEnd + 1)..];
    }

    public static string Build(SharedMemoryResults r, TimeSpan elapsed, string source)
    {
        SharedMemorySettings s = r.Settings;
        var md = new StringBuilder();
        md.AppendLine("# Shared memory: Multiprocessing for .NET beside CPython multiprocessing");
        md.AppendLine();
        md.AppendLine(Inv($"* Date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC"));
        md.AppendLine(Inv($"* Machine: nproc {Environment.ProcessorCount}, CPU {CpuModel()}, kernel {Kernel()}, {r.MemoryAtStart} at start; /dev/shm {DevShm()}; transparent huge pages for shmem: {Thp()}"));
        md.AppendLine(Inv($"* Runtimes: {RuntimeInformation.FrameworkDescription}; {r.PythonVersion ?? "CPython (not run)"} ({s.Common.Python}), stdlib multiprocessing with the fork start method"));
        md.AppendLine(Inv($"* Library source: {source}"));
        md.AppendLine(Inv($"* Command: `dotnet run -c Release --project bench/Multiprocessing.Benchmarks -- sharedmem{(s.Common.Arguments.Length > 0 ? " " + s.Common.Arguments : "")}` (total {elapsed.TotalMinutes:0.0} min). Ours runs as `Multiprocessing.Benchmarks sharedmem child handoff|memory …`, CPython as `python3 bench/python/shared_peer.py handoff|memory …`, each a fresh process per run."));
        md.AppendLine(Inv($"* Load average (1, 5, 15 min) at start: {r.LoadAtStart}; at end: {r.LoadAtEnd}. The machine is shared and noisy: read the [min – max] ranges."));
        md.AppendLine();

        if (!s.SkipHandoff)
        {
            AppendHandoff(md, r);
        }
        if (!s.SkipMemory)
        {
            AppendMemory(md, r);
        }
        if (r.Failures.Count > 0)
        {
            md.AppendLine("## Runs that failed or were skipped");
            md.AppendLine();
            foreach (string failure in r.Failures)
            {
                md.AppendLine("* " + failure.ReplaceLineEndings(" "));
            }
            md.AppendLine();
        }
        md.AppendLine(NotesMarker);
        return md.ToString();
    }

    private static void AppendHandoff(StringBuilder md, SharedMemoryResults r)
    {
        SharedMemorySettings s = r.Settings;
        md.AppendLine("## 1. Handing data to a task");
        md.AppendLine();
        md.AppendLine(Inv($"A warm pool of 2 workers on both sides (ours: `ProcessPool` with `MaxMessageSize = int.MaxValue`, warmed with 200 submits and 150 of each task on a tiny array, in two batches 0.3 s apart so that the JIT's optimised code is in place; CPython: `Pool(2)`, fork, warmed with 200 calls and 20 of each task). Each figure is one `SubmitAsync(task, data)` → result (ours) or `pool.apply_async(task, (data,)).get()` (CPython), timed in the parent; creating and filling the data is outside the clock, and so is a {s.SettleMs / 1000.0:0.#} s pause after filling a shared array (ours: the worker drops its mapping of the previous size's array in a sweep that runs every second; CPython waits likewise). {s.Rounds} rounds, ours and CPython's alternating (ours first in odd rounds); a figure is the median [min – max] over rounds of each round's figure; \"later calls\" is, within a round, the median of the next {s.TouchRepeats} calls for touch-one and of {s.Repeats} call(s) otherwise (1 at sizes of 512 MiB and more). A ratio is ours ÷ CPython of the medians, [min – max] over the per-round ratios. Sizes are binary: 1 MiB = 131,072 doubles, 1 GiB = 134,217,728 doubles; element i holds i % 1024 and every result is checked."));
        md.AppendLine();
        md.AppendLine("* Ours, descriptor: a `SharedArray<double>` argument. What crosses is a descriptor of a few dozen bytes; the worker maps the segment the first time it sees it (through `/proc/<parent>/fd/N`) and keeps the mapping while the parent holds the array, so later calls map nothing.");
        md.AppendLine("* Ours, copy: a `double[]` argument, serialised as raw bytes into the task message and read into a new `double[]` in the worker.");
        md.AppendLine("* CPython, descriptor: `multiprocessing.shared_memory.SharedMemory` passed by name; the task attaches with `SharedMemory(name=…)`, reads through `np.ndarray(buffer=shm.buf)` and closes it, on every call (the pattern of the documentation). The parent's resource tracker is started before the pool so the workers share it.");
        md.AppendLine("* CPython, copy: a numpy `float64` array argument, pickled by `multiprocessing` and unpickled in the worker.");
        md.AppendLine("* The read-every-element tasks sum the array with SIMD on both sides (`Vector<double>` in ours, `ndarray.sum()` in CPython's).");
        md.AppendLine();

        md.AppendLine("### 1a. Touch one element, data passed by descriptor (ms)");
        md.AppendLine();
        md.AppendLine("| Size | Ours `SharedArray`, first call (worker maps it) | Ours, later calls (already mapped) | CPython `shared_memory`, first call | CPython, later calls (attach + close each) | Ours ÷ CPython, first | Ours ÷ CPython, later |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (long size in s.Sizes)
        {
            md.AppendLine(Inv($"| {SharedMemoryRunner.Units(size)} | {Cell(Ours(r, size, "shared_touch_first_ms"))} | {Cell(Ours(r, size, "shared_touch_ms"))} | {Cell(Py(r, size, "shm_touch_first_ms"))} | {Cell(Py(r, size, "shm_touch_ms"))} | {Ratio(Ours(r, size, "shared_touch_first_ms"), Py(r, size, "shm_touch_first_ms"))} | {Ratio(Ours(r, size, "shared_touch_ms"), Py(r, size, "shm_touch_ms"))} |"));
        }
        md.AppendLine();
        md.AppendLine("### 1b. Touch one element, data copied into the message (ms)");
        md.AppendLine();
        md.AppendLine("| Size | Ours `double[]` serialised, first call | Ours, later calls | CPython pickled numpy array, first call | CPython, later calls | Ours ÷ CPython, first | Ours ÷ CPython, later |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (long size in s.Sizes)
        {
            md.AppendLine(Inv($"| {SharedMemoryRunner.Units(size)} | {Cell(Ours(r, size, "copy_touch_first_ms"))} | {Cell(Ours(r, size, "copy_touch_ms"))} | {Cell(Py(r, size, "pickle_touch_first_ms"))} | {Cell(Py(r, size, "pickle_touch_ms"))} | {Ratio(Ours(r, size, "copy_touch_first_ms"), Py(r, size, "pickle_touch_first_ms"))} | {Ratio(Ours(r, size, "copy_touch_ms"), Py(r, size, "pickle_touch_ms"))} |"));
        }
        md.AppendLine();
        md.AppendLine("### 1c. Read (sum) every element (ms)");
        md.AppendLine();
        md.AppendLine("| Size | Ours `SharedArray`, first read (pages fault in) | Ours, pages already mapped | CPython `shared_memory` (attach, sum, close) | Ours first read ÷ CPython | Ours `double[]` serialised | CPython pickled numpy | Ours ÷ CPython, copied |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (long size in s.Sizes)
        {
            md.AppendLine(Inv($"| {SharedMemoryRunner.Units(size)} | {Cell(Ours(r, size, "shared_sum_first_ms"))} | {Cell(Ours(r, size, "shared_sum_ms"))} | {Cell(Py(r, size, "shm_sum_ms"))} | {Ratio(Ours(r, size, "shared_sum_first_ms"), Py(r, size, "shm_sum_ms"))} | {Cell(Ours(r, size, "copy_sum_ms"))} | {Cell(Py(r, size, "pickle_sum_ms"))} | {Ratio(Ours(r, size, "copy_sum_ms"), Py(r, size, "pickle_sum_ms"))} |"));
        }
        md.AppendLine();

        md.AppendLine("### 1d. DESIGN target: handing over a SharedArray takes constant time, independent of size");
        md.AppendLine();
        md.AppendLine(Inv($"Ratio of the medians of touch-one round trips, larger size ÷ 1 MiB [min – max over the per-round ratios]. Met when ≤ {ConstantRatio} (a copy grows with the size)."));
        md.AppendLine();
        long smallest = s.Sizes.Min();
        md.AppendLine("| Series | " + string.Join(" | ", s.Sizes.Where(z => z != smallest).Select(z => $"{SharedMemoryRunner.Units(z)} ÷ {SharedMemoryRunner.Units(smallest)}")) + " | Met |");
        md.AppendLine("|---|" + string.Concat(s.Sizes.Where(z => z != smallest).Select(_ => "---|")) + "---|");
        foreach ((string label, bool ours, string key, bool target) in new[]
        {
            ("Ours `SharedArray`, first call", true, "shared_touch_first_ms", true),
            ("Ours `SharedArray`, later calls", true, "shared_touch_ms", true),
            ("CPython `shared_memory`, first call", false, "shm_touch_first_ms", false),
            ("CPython `shared_memory`, later calls", false, "shm_touch_ms", false),
            ("Ours `double[]` serialised, later calls", true, "copy_touch_ms", false),
            ("CPython pickled numpy, later calls", false, "pickle_touch_ms", false),
        })
        {
            List<double> Series(long size) => ours ? Ours(r, size, key) : Py(r, size, key);
            var cells = new List<string>();
            bool met = true;
            foreach (long size in s.Sizes.Where(z => z != smallest))
            {
                cells.Add(Ratio(Series(size), Series(smallest)));
                met &= Summary.Of(Series(size)) is { } big && Summary.Of(Series(smallest)) is { } small && big.Median / small.Median <= ConstantRatio;
            }
            md.AppendLine($"| {label} | {string.Join(" | ", cells)} | {(target ? (met ? "yes" : "**no**") : "")} |");
        }
        md.AppendLine();

        if (r.HandoffOurs.FirstOrDefault(j => j.TryGetProperty("default_limit_probe", out _)) is { ValueKind: JsonValueKind.Object } probed)
        {
            JsonElement p = probed.GetProperty("default_limit_probe");
            string outcome = p.GetProperty("outcome").GetString() == "refused"
                ? Inv($"refused after {p.GetProperty("ms").GetDouble():0} ms with {p.GetProperty("exception").GetString()}: \"{p.GetProperty("message").GetString()}\"")
                : Inv($"accepted ({p.GetProperty("ms").GetDouble():0} ms)");
            md.AppendLine(Inv($"**1 GiB as a `double[]` with the default `MaxMessageSize` ({p.GetProperty("max_message_size").GetInt64():N0} bytes):** {outcome} The figures above use a pool with `MaxMessageSize = int.MaxValue` (2 GiB − 1 byte, the ceiling)."));
            md.AppendLine();
        }
        long largest = s.Sizes.Max();
        var afterParent = new List<double>();
        var afterReceiver = new List<double>();
        var laterParent = new List<double>();
        var laterReceiver = new List<double>();
        var live = new List<double>();
        foreach (JsonElement round in r.HandoffOurs)
        {
            if (SizeRow(round, largest) is { } row && row.TryGetProperty("after_copies", out JsonElement after) && row.TryGetProperty("after_copies_more_gcs", out JsonElement later))
            {
                afterParent.Add(after.GetProperty("parent").GetProperty("pss").GetInt64() / MiB);
                afterReceiver.Add(after.GetProperty("workers").EnumerateArray().Max(w => w.GetProperty("pss").GetInt64()) / MiB);
                laterParent.Add(later.GetProperty("parent").GetProperty("pss").GetInt64() / MiB);
                laterReceiver.Add(later.GetProperty("workers").EnumerateArray().Max(w => w.GetProperty("pss").GetInt64()) / MiB);
                live.Add(row.GetProperty("parent_gc_live_bytes").GetInt64() / MiB);
            }
        }
        if (afterParent.Count > 0)
        {
            md.AppendLine(Inv($"**Memory the serialised {SharedMemoryRunner.Units(largest)} arguments leave behind** (ours; sequential submits on an idle pool all go to its first worker, which received every copy): after the last one, with the `double[]` dropped, one forced compacting GC in the parent and a `GC.Collect` task in the worker, the parent's PSS is {Cell(afterParent, "0")} MiB (its live managed heap: {Summary.Of(live)!.Value.Median:0.0} MiB) and the receiving worker's {Cell(afterReceiver, "0")} MiB; after five more collections in both, 0.2 s apart, {Cell(laterParent, "0")} MiB and {Cell(laterReceiver, "0")} MiB. The freed message buffers stay resident until the GC returns them over later collections."));
            md.AppendLine();
        }

        md.AppendLine("<details><summary>Every round (ms)</summary>");
        md.AppendLine();
        md.AppendLine("| Size | Series | Rounds |");
        md.AppendLine("|---|---|---|");
        foreach (long size in s.Sizes)
        {
            foreach (string key in new[] { "shared_touch_first_ms", "shared_touch_ms", "shared_sum_first_ms", "shared_sum_ms", "copy_touch_first_ms", "copy_touch_ms", "copy_sum_ms" })
            {
                md.AppendLine(Inv($"| {SharedMemoryRunner.Units(size)} | ours {key} | {string.Join("; ", Ours(r, size, key).Select(v => Num(v)))} |"));
            }
            foreach (string key in new[] { "shm_touch_first_ms", "shm_touch_ms", "shm_sum_ms", "pickle_touch_first_ms", "pickle_touch_ms", "pickle_sum_ms" })
            {
                md.AppendLine(Inv($"| {SharedMemoryRunner.Units(size)} | CPython {key} | {string.Join("; ", Py(r, size, key).Select(v => Num(v)))} |"));
            }
        }
        md.AppendLine();
        md.AppendLine("</details>");
        md.AppendLine();
    }

    private static void AppendMemory(StringBuilder md, SharedMemoryResults r)
    {
        SharedMemorySettings s = r.Settings;
        string data = SharedMemoryRunner.Units(s.MemoryBytes);
        md.AppendLine(Inv($"## 2. Memory: N workers each reading every element of a {data} dataset"));
        md.AppendLine();
        md.AppendLine(Inv($"Total PSS = the parent's PSS + every worker's PSS, from `/proc/PID/smaps_rollup` (ours through `ProcessPool.GetMemoryUsage()`), read while all N workers hold the data: each task reads every element, then reports its arrival and waits until the parent has read the figures. {s.MemoryRounds} run(s) per case, each a fresh process, the cases of one N in alternating order; a figure is the median [min – max] in MiB. Idle worker PSS is measured in the same run, on the same warm pool before the data exists (CPython: a pool of N forked from the same parent before the data exists, then closed)."));
        md.AppendLine();
        md.AppendLine(Inv($"* Ours, shared: the parent creates one `SharedArray<double>` of {data} and fills it; the task `HoldShared(SharedArray<double>)` sums it in the worker."));
        md.AppendLine(Inv($"* Ours, copied: each worker builds its own `double[]` of {data} (allocated and filled in its first task, kept in a static field), as a worker that loads its own copy of a dataset does; the parent holds no copy. (Receiving it serialised would cost more: see the memory left behind in section 1.)"));
        md.AppendLine(Inv($"* CPython, numpy after fork: a `float64` array of {data} built before `Pool(N)` (fork); the workers sum the inherited pages."));
        md.AppendLine(Inv($"* CPython, shared_memory: a `SharedMemory` of {data} filled by the parent; each worker attaches by name and sums a numpy view."));
        md.AppendLine(Inv($"* CPython, list after fork: a list of floats built before `Pool(N)` (fork) taking about {data}: an 8-byte slot and a float per element, the 24-byte float in pymalloc's 32-byte size class, so it holds a fifth as many values ({s.MemoryBytes / 40:N0}). Iterating it writes every float's reference count, so each worker copies the floats' pages; the list's own array stays shared."));
        md.AppendLine("* Our pools run 2 × N tasks for N workers: the pool hands a worker up to two tasks at a time, so N tasks that wait for one another would start on only N/2 workers (see the notes).");
        md.AppendLine();

        int[] counts = s.WorkerCounts;
        (string Side, string Mode, string Label)[] cases =
        [
            ("ours", "shared", "Ours: one `SharedArray`"),
            ("ours", "copied", "Ours: a `double[]` per worker"),
            ("cpython", "numpy", "CPython: numpy after fork"),
            ("cpython", "shm", "CPython: `shared_memory`"),
            ("cpython", "list", "CPython: list after fork"),
        ];
        md.AppendLine("### 2a. Total PSS, parent + N workers (MiB)");
        md.AppendLine();
        md.AppendLine("| N | " + string.Join(" | ", cases.Select(c => c.Label)) + " | Ours copied ÷ ours shared | Ours shared ÷ CPython `shared_memory` | Ours shared ÷ CPython numpy after fork |");
        md.AppendLine("|---|" + string.Concat(cases.Select(_ => "---|")) + "---|---|---|");
        foreach (int n in counts)
        {
            List<double> Total(string side, string mode) => [.. Runs(r, side, mode, n).Select(x => x.TotalHeld / MiB)];
            md.AppendLine(Inv($"| {n} | {string.Join(" | ", cases.Select(c => Cell(Total(c.Side, c.Mode), "0")))} | {MedianRatio(Total("ours", "copied"), Total("ours", "shared"))} | {MedianRatio(Total("ours", "shared"), Total("cpython", "shm"))} | {MedianRatio(Total("ours", "shared"), Total("cpython", "numpy"))} |"));
        }
        md.AppendLine();

        md.AppendLine(Inv($"### 2b. DESIGN target: total PSS ≤ {data} + N × (idle worker PSS) + 5 %"));
        md.AppendLine();
        md.AppendLine(Inv($"Bound = {Slack} × ({data} + N × idle worker PSS), with the idle PSS measured in the same run (the median over runs is shown; \"Met\" checks every run against its own idle figure). The parent's own PSS (its runtime, before the data) is not in the DESIGN formula but is in the measured total, so the check is also shown with it subtracted; the last columns apply the same bound to CPython's `shared_memory` with CPython's idle workers."));
        md.AppendLine();
        md.AppendLine("| N | Idle worker PSS, ours (MiB) | Ours: parent PSS before the data (MiB) | Ours shared: total PSS (MiB) | Bound (MiB) | Met | Total − bound (MiB) | Met without the parent's own pre-data PSS | Idle worker PSS, CPython (MiB) | CPython `shared_memory` total (MiB) | CPython bound (MiB) | CPython met |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (int n in counts)
        {
            List<MemoryRun> ours = Runs(r, "ours", "shared", n);
            List<MemoryRun> shm = Runs(r, "cpython", "shm", n);
            Summary? idle = Summary.Of([.. ours.Select(x => x.IdleWorker / MiB)]);
            Summary? parent = Summary.Of([.. ours.Select(x => x.IdleParent / MiB)]);
            Summary? total = Summary.Of([.. ours.Select(x => x.TotalHeld / MiB)]);
            Summary? pyIdle = Summary.Of([.. shm.Select(x => x.IdleWorker / MiB)]);
            Summary? pyTotal = Summary.Of([.. shm.Select(x => x.TotalHeld / MiB)]);
            double dataMiB = s.MemoryBytes / MiB;
            string bound = "n/a", met = "n/a", margin = "n/a", metWithoutParent = "n/a", pyBound = "n/a", pyMet = "n/a";
            if (idle is { } i && total is { } t)
            {
                double b = Slack * (dataMiB + n * i.Median);
                bound = Inv($"{b:0}");
                met = Verdict(ours.Select(x => x.TotalHeld / MiB <= Slack * (dataMiB + n * x.IdleWorker / MiB)));
                margin = Inv($"{t.Median - b:+0;-0}");
                metWithoutParent = Verdict(ours.Select(x => (x.TotalHeld - x.IdleParent) / MiB <= Slack * (dataMiB + n * x.IdleWorker / MiB)));
            }
            if (pyIdle is { } pi && pyTotal is { } pt)
            {
                double b = Slack * (dataMiB + n * pi.Median);
                pyBound = Inv($"{b:0}");
                pyMet = pt.Median <= b ? "yes" : "no";
            }
            md.AppendLine(Inv($"| {n} | {Cell(idle, "0.0")} | {Cell(parent, "0.0")} | {Cell(total, "0")} | {bound} | {met} | {margin} | {metWithoutParent} | {Cell(pyIdle, "0.0")} | {Cell(pyTotal, "0")} | {pyBound} | {pyMet} |"));
        }
        md.AppendLine();

        md.AppendLine("### 2c. Where the memory is (medians, MiB)");
        md.AppendLine();
        md.AppendLine("| N | Case | Parent before the data | Parent with the data | Parent while workers hold it | Each worker while holding it (mean) | Worker PSS of shared memory (mean) | Idle worker | CPython helper processes (resource tracker) | Time until all N had read it (ms) | Processes mapping the runtime |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (int n in counts)
        {
            foreach ((string side, string mode, string label) in cases)
            {
                List<MemoryRun> runs = Runs(r, side, mode, n);
                if (runs.Count == 0)
                {
                    continue;
                }
                md.AppendLine(Inv($"| {n} | {label} | {Med(runs, x => x.IdleParent / MiB)} | {Med(runs, x => x.ParentWithData / MiB)} | {Med(runs, x => x.ParentHeld / MiB)} | {Med(runs, x => x.WorkersHeld.Average() / MiB)} | {Med(runs, x => x.WorkersHeldShmem.Average() / MiB)} | {Med(runs, x => x.IdleWorker / MiB, "0.0")} | {(side == "cpython" ? Med(runs, x => x.Helpers / MiB, "0.0") : "–")} | {Med(runs, x => x.ReadMs)} | {Med(runs, x => x.RuntimeSharers)} |"));
            }
        }
        md.AppendLine();
        md.AppendLine("`Pss_Shmem` counts shared memory (memfd, /dev/shm); a numpy array or list inherited by fork is anonymous memory, so it shows in PSS but not there. CPython's resource tracker (started by `shared_memory`) is a process of its own; it is listed but not in the totals. The last column counts the processes mapping `libcoreclr.so` (ours) or the CPython executable (theirs) when the figures were read: PSS divides those shared code pages among all of them, other people's processes on this machine included, so idle PSS moves with it.");
        md.AppendLine();
        md.AppendLine("<details><summary>Every run (MiB)</summary>");
        md.AppendLine();
        md.AppendLine("| N | Case | Total | Parent | Workers | Idle workers (mean) | Distinct workers holding |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (MemoryRun run in r.Memory)
        {
            md.AppendLine(Inv($"| {run.Workers} | {run.Side} {run.Mode} | {run.TotalHeld / MiB:0} | {run.ParentHeld / MiB:0} | {string.Join(" ", run.WorkersHeld.Select(w => (w / MiB).ToString("0", CultureInfo.InvariantCulture)))} | {run.IdleWorker / MiB:0.0} | {run.DistinctWorkers} |"));
        }
        md.AppendLine();
        md.AppendLine("</details>");
        md.AppendLine();
    }

    /// <summary>
    /// The comparisons <c>mp bench</c> shows, from the same figures as the page: hand-off (1a, 1b),
    /// the constant-time check (1d), total PSS against its bound (2b) and a copy per worker (2a).
    /// </summary>
    public static Results.RunnerResults ToResults(SharedMemoryResults r, string handWritten)
    {
        SharedMemorySettings s = r.Settings;
        var rows = new List<Results.ResultRow>();
        Results.ResultChart? chart = null;
        if (!s.SkipHandoff)
        {
            foreach (long size in s.Sizes)
            {
                rows.Add(Compare("1a", $"Hand a {SharedMemoryRunner.Units(size)} `SharedArray<double>` to a task, touch one element: first call (worker maps it), round trip (ms)",
                    Ours(r, size, "shared_touch_first_ms"), "CPython `shared_memory` by name, first call", Py(r, size, "shm_touch_first_ms")));
                rows.Add(Compare("1a", "The same, later calls (already mapped) (ms)",
                    Ours(r, size, "shared_touch_ms"), "CPython `shared_memory`, later calls (attach + close each)", Py(r, size, "shm_touch_ms")));
            }
            foreach (long size in s.Sizes)
            {
                rows.Add(Compare("1b", $"Hand a {SharedMemoryRunner.Units(size)} `double[]` to a task (serialised into the message), later calls (ms)",
                    Ours(r, size, "copy_touch_ms"), "CPython pickled numpy array, later calls", Py(r, size, "pickle_touch_ms")));
            }
            long smallest = s.Sizes.Min();
            long[] larger = [.. s.Sizes.Where(z => z != smallest)];
            string sizes = string.Join(", ", larger.Select(z => $"{SharedMemoryRunner.Units(z)} ÷ {SharedMemoryRunner.Units(smallest)}"));
            foreach ((string series, string key, string pyKey) in new[] { ("first call", "shared_touch_first_ms", "shm_touch_first_ms"), ("later calls", "shared_touch_ms", "shm_touch_ms") })
            {
                bool met = larger.All(size => Summary.Of(Ours(r, size, key)) is { } big && Summary.Of(Ours(r, smallest, key)) is { } small && big.Median / small.Median <= ConstantRatio);
                rows.Add(new Results.ResultRow("1d", $"Ours `SharedArray`, {series}: time at the larger size ÷ time at the smallest ({sizes})",
                    string.Join("; ", larger.Select(size => Ratio(Ours(r, size, key), Ours(r, smallest, key)))),
                    $"CPython `shared_memory`, {series}", string.Join("; ", larger.Select(size => Ratio(Py(r, size, pyKey), Py(r, smallest, pyKey)))), "", null,
                    "constant time, independent of size (report: ratio ≤ 1.5)", met ? "yes" : "no"));
            }
        }
        if (!s.SkipMemory)
        {
            string data = SharedMemoryRunner.Units(s.MemoryBytes);
            double dataMiB = s.MemoryBytes / MiB;
            List<double> Total(string side, string mode, int n) => [.. Runs(r, side, mode, n).Select(x => x.TotalHeld / MiB)];
            foreach (int n in s.WorkerCounts)
            {
                List<MemoryRun> ours = Runs(r, "ours", "shared", n);
                List<MemoryRun> shm = Runs(r, "cpython", "shm", n);
                Summary? idle = Summary.Of([.. ours.Select(x => x.IdleWorker / MiB)]);
                string bound = idle is { } i ? Inv($"{Slack * (dataMiB + n * i.Median):0}") : "n/a";
                string verdict = "n/a";
                if (idle is not null && ours.Count > 0)
                {
                    verdict = Verdict(ours.Select(x => x.TotalHeld / MiB <= Slack * (dataMiB + n * x.IdleWorker / MiB))).Replace("**", "", StringComparison.Ordinal);
                    if (verdict != "yes")
                    {
                        string without = Verdict(ours.Select(x => (x.TotalHeld - x.IdleParent) / MiB <= Slack * (dataMiB + n * x.IdleWorker / MiB))).Replace("**", "", StringComparison.Ordinal);
                        verdict += $" ({without} without the parent's own pre-data PSS)";
                    }
                }
                rows.Add(Compare(Inv($"2b N={n}"), Inv($"{n} worker(s) each reading one shared {data} `SharedArray`: total PSS, parent + workers (MiB)"),
                    Total("ours", "shared", n), "CPython `shared_memory`, same layout", Total("cpython", "shm", n), "0") with
                {
                    Target = Inv($"≤ {data} + N × idle worker PSS ({Cell(idle, "0.0")} MiB) + 5 % = {bound} MiB"),
                    Met = verdict,
                });
            }
            foreach (int n in s.WorkerCounts)
            {
                rows.Add(Compare(Inv($"2a N={n}"), Inv($"{n} worker(s) each loading its own {data} copy: total PSS (MiB)"),
                    Total("ours", "copied", n), "ours, one shared `SharedArray` (above)", Total("ours", "shared", n), "0"));
            }
            (string Side, string Mode, string Label)[] cases =
            [
                ("ours", "shared", "Ours: one SharedArray"),
                ("ours", "copied", "Ours: a double[] per worker"),
                ("cpython", "numpy", "CPython: numpy after fork"),
                ("cpython", "shm", "CPython: shared_memory"),
                ("cpython", "list", "CPython: list after fork"),
            ];
            chart = new Results.ResultChart($"Total PSS of N workers each reading a {data} dataset", "workers (N)", "total PSS, parent + workers (MiB)",
                [.. s.WorkerCounts.Select(n => n.ToString(CultureInfo.InvariantCulture))],
                [.. cases.Select(c => new Results.ResultSeries(c.Label, [.. s.WorkerCounts.Select(n => Summary.Of(Total(c.Side, c.Mode, n)) is { } t ? t.Median : double.NaN)]))],
                Line: true);
        }
        return new Results.RunnerResults { Mode = SharedMemoryRunner.Command, Rows = rows, Chart = chart, HandWrittenNotes = handWritten.Trim() };
    }

    /// <summary>A row of ours beside a peer, each the median [min – max] of its runs; ratio of the medians, as the suite's report writes ratios it computes.</summary>
    private static Results.ResultRow Compare(string id, string measure, List<double> ours, string peer, List<double> peerValues, string format = "")
    {
        double? ratio = Summary.Of(ours) is { } o && Summary.Of(peerValues) is { } p && p.Median != 0 ? o.Median / p.Median : null;
        string ratioText = format.Length == 0 ? Ratio(ours, peerValues)
            : ratio is double v ? v.ToString(v >= 0.1 ? "0.00" : "0.0000", CultureInfo.InvariantCulture) + "×" : "n/a";
        return new Results.ResultRow(id, measure, Cell(ours, format), peer, Cell(peerValues, format), ratioText, ratio, "", "");
    }

    /// <summary>"yes" when every run met the bound, "**no**" when none did, "k of n runs" otherwise.</summary>
    private static string Verdict(IEnumerable<bool> runs)
    {
        bool[] all = [.. runs];
        int met = all.Count(x => x);
        return met == all.Length ? "yes" : met == 0 ? "**no**" : Inv($"{met} of {all.Length} runs");
    }

    private static List<MemoryRun> Runs(SharedMemoryResults r, string side, string mode, int n) =>
        [.. r.Memory.Where(x => x.Side == side && x.Mode == mode && x.Workers == n)];

    private static JsonElement? SizeRow(JsonElement round, long size)
    {
        foreach (JsonElement row in round.GetProperty("sizes").EnumerateArray())
        {
            if (row.GetProperty("bytes").GetInt64() == size)
            {
                return row;
            }
        }
        return null;
    }

    private static List<double> Ours(SharedMemoryResults r, long size, string key) => Series(r.HandoffOurs, size, key);

    private static List<double> Py(SharedMemoryResults r, long size, string key) => Series(r.HandoffPython, size, key);

    private static List<double> Series(List<JsonElement> rounds, long size, string key)
    {
        var values = new List<double>();
        foreach (JsonElement round in rounds)
        {
            if (SizeRow(round, size) is { } row && row.TryGetProperty(key, out JsonElement value))
            {
                values.Add(value.GetDouble());
            }
        }
        return values;
    }

    private static string Cell(List<double> values, string format = "") => Cell(Summary.Of(values), format);

    private static string Cell(Summary? summary, string format = "") => summary is { } x
        ? (x.Count == 1 ? Num(x.Median, format) : $"{Num(x.Median, format)} [{Num(x.Min, format)} – {Num(x.Max, format)}]")
        : "n/a";

    private static string Med(List<MemoryRun> runs, Func<MemoryRun, double> select, string format = "0") =>
        Num(Summary.Of([.. runs.Select(select)])!.Value.Median, format);

    /// <summary>Ours ÷ peer of the medians, with the range of the per-round ratios (rounds paired by index).</summary>
    private static string Ratio(List<double> ours, List<double> peer)
    {
        if (Summary.Of(ours) is not { } o || Summary.Of(peer) is not { } p)
        {
            return "n/a";
        }
        int n = Math.Min(ours.Count, peer.Count);
        double[] perRound = [.. Enumerable.Range(0, n).Select(i => ours[i] / peer[i])];
        string ratio = Ratio(o.Median / p.Median);
        return perRound.Length > 1 ? $"{ratio} [{Ratio(perRound.Min())} – {Ratio(perRound.Max())}]" : ratio;
    }

    private static string MedianRatio(List<double> ours, List<double> peer) =>
        Summary.Of(ours) is { } o && Summary.Of(peer) is { } p ? Ratio(o.Median / p.Median) : "n/a";

    private static string Ratio(double value) => value switch
    {
        >= 100 => Inv($"{value:0}×"),
        >= 10 => Inv($"{value:0.0}×"),
        _ => Inv($"{value:0.00}×"),
    };

    private static string Num(double value, string format = "") => format.Length > 0
        ? value.ToString(format, CultureInfo.InvariantCulture)
        : value switch
        {
            >= 100 => value.ToString("0", CultureInfo.InvariantCulture),
            >= 10 => value.ToString("0.0", CultureInfo.InvariantCulture),
            >= 1 => value.ToString("0.00", CultureInfo.InvariantCulture),
            _ => value.ToString("0.000", CultureInfo.InvariantCulture),
        };

    private static string CpuModel() => ProcFs.ReadCpuInfo("model name") ?? "unknown";

    private static string Kernel() => ProcFs.ReadFirstLine("/proc/sys/kernel/osrelease")?.Trim() ?? "unknown";

    private static string Thp()
    {
        const string path = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
        return File.Exists(path) ? File.ReadAllText(path).Trim() : "unknown";
    }

    private static string DevShm()
    {
        try
        {
            var drive = new DriveInfo("/dev/shm");
            return Inv($"{drive.TotalSize / (double)(1L << 30):0.0} GiB tmpfs");
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return "unknown";
        }
    }

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
