using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Multiprocessing.Interop;
using Multiprocessing.Cli.Output;

namespace Multiprocessing.Cli.Commands;

/// <summary>
/// <c>mp mem PID…</c>: the memory breakdown of processes as the kernel counts it (RSS, PSS, USS,
/// shared, swap), like <c>smem</c>; <c>--tree</c> adds every descendant, <c>--watch</c> redraws
/// until Ctrl+C, <c>--json</c> is for machines.
/// </summary>
/// <remarks>
/// A process that cannot be read (it does not exist, it has exited, it belongs to another user)
/// is reported in one line on standard error and the others are still shown; the exit code is
/// <see cref="MpCommandLine.Failure"/> only when none could be read.
/// </remarks>
public sealed class MemCommand : CliCommand
{
    /// <summary>Longest command line shown in the table; longer ones are cut and end in "...".</summary>
    public const int MaxCommandWidth = 48;

    /// <summary>Longest accepted <c>--watch</c> interval, in seconds (a day): a larger one is more likely a typo than a wish.</summary>
    public const double MaxWatchSeconds = 86_400;

    private const string Usage = "give process ids, such as 'mp mem 1234' or 'mp mem --tree 1234'";

    private readonly Argument<IReadOnlyList<int>> _pids = new("PID")
    {
        Description = "Processes to show (ids as in ps or top).",
        Arity = ArgumentArity.OneOrMore,
        CustomParser = ParsePids,
    };

    private readonly Option<bool> _tree = new("--tree", "-t")
    {
        Description = "Also show every descendant of each PID (children, their children, ...), indented under it.",
    };

    private readonly Option<TimeSpan?> _watch = new("--watch", "-w")
    {
        Description = "Redraw every SECONDS seconds (such as 2 or 0.5) until Ctrl+C or until every process has exited.",
        HelpName = "SECONDS",
        CustomParser = ParseInterval,
    };

    private readonly Option<bool> _json = new("--json")
    {
        Description = "Write the figures, in bytes, as JSON on standard output instead of a table (with --watch: one document per refresh).",
    };

    /// <summary>Creates the command.</summary>
    public MemCommand() : base("mem", "Show the memory of processes as the kernel counts it: RSS, PSS, USS, shared and swap, with totals.")
    {
        Arguments.Add(_pids);
        Options.Add(_tree);
        Options.Add(_watch);
        Options.Add(_json);
        // System.CommandLine's own message for a missing PID ("Required argument missing for
        // command") does not say what to type; this one comes first, so it is the one shown. A
        // flag that lacks its value ("mp mem --watch") keeps System.CommandLine's message, which
        // names the flag: that is the mistake to fix first.
        Validators.Add(result =>
        {
            if (result.GetResult(_pids) is not { Tokens.Count: > 0 } && result.GetResult(_watch) is not { Tokens.Count: 0 })
            {
                result.AddError($"No process id: {Usage}.");
            }
        });
    }

    /// <inheritdoc/>
    protected override async Task<int> ExecuteAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        IReadOnlyList<int> pids = parseResult.GetValue(_pids) ?? [];
        bool tree = parseResult.GetValue(_tree);
        bool json = parseResult.GetValue(_json);
        TimeSpan? interval = parseResult.GetValue(_watch);
        TextWriter output = parseResult.InvocationConfiguration.Output;
        TextWriter error = parseResult.InvocationConfiguration.Error;

        if (interval is null)
        {
            MemSample sample = MemSample.Take(pids, tree);
            await (json ? WriteJsonAsync(output, sample) : sample.Rows.Count > 0 ? WriteTableAsync(output, sample) : Task.CompletedTask).ConfigureAwait(false);
            await WriteFailuresAsync(error, sample).ConfigureAwait(false);
            return sample.Rows.Count > 0 ? MpCommandLine.Success : MpCommandLine.Failure;
        }
        return await WatchAsync(output, error, pids, tree, json, interval.Value, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<int> WatchAsync(TextWriter output, TextWriter error, IReadOnlyList<int> pids, bool tree, bool json, TimeSpan interval, CancellationToken cancellationToken)
    {
        // Clearing the screen only makes sense on a terminal; into a file or pipe each refresh is
        // appended, so the history can be read (or parsed, with --json) afterwards.
        bool redraw = !json && ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        using var timer = new PeriodicTimer(interval);
        bool shownAny = false;
        try
        {
            do
            {
                MemSample sample = MemSample.Take(pids, tree);
                if (sample.Rows.Count == 0)
                {
                    // Watching a process until it ends is a normal use; only a first look that
                    // finds nothing is a failure.
                    if (shownAny)
                    {
                        await error.WriteLineAsync("mp mem: every watched process has exited.").ConfigureAwait(false);
                        return MpCommandLine.Success;
                    }
                    await WriteFailuresAsync(error, sample).ConfigureAwait(false);
                    return MpCommandLine.Failure;
                }
                // One write per refresh, so a terminal never shows a half-drawn table.
                using var frame = new StringWriter(CultureInfo.InvariantCulture);
                if (json)
                {
                    await WriteJsonAsync(frame, sample).ConfigureAwait(false);
                }
                else
                {
                    await frame.WriteAsync(redraw ? "\e[H\e[2J" : shownAny ? Environment.NewLine : "").ConfigureAwait(false);
                    await frame.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"mp mem, every {interval.TotalSeconds:0.###} s, at {sample.Time.ToLocalTime():HH:mm:ss} (Ctrl+C to stop)")).ConfigureAwait(false);
                    await frame.WriteLineAsync().ConfigureAwait(false);
                    await WriteTableAsync(frame, sample).ConfigureAwait(false);
                    // On a redrawn screen a line on standard error would scroll the table away.
                    foreach (MemFailure failure in sample.Failures)
                    {
                        await frame.WriteLineAsync($"not shown: {failure.Reason}").ConfigureAwait(false);
                    }
                }
                await output.WriteAsync(frame.ToString()).ConfigureAwait(false);
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                shownAny = true;
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C is how a watch is meant to end, not an interruption of unfinished work.
        }
        return MpCommandLine.Success;
    }

    private static async Task WriteTableAsync(TextWriter output, MemSample sample)
    {
        IReadOnlyList<MemRow> rows = sample.Rows;
        string[] commands = [.. rows.Select(r => Indent(r.Depth) + r.Command)];
        string totalLabel = rows.Count == 1 ? "total (1 process)" : string.Create(CultureInfo.InvariantCulture, $"total ({rows.Count} processes)");
        int pidWidth = rows.Max(r => r.Pid.ToString(CultureInfo.InvariantCulture).Length);
        int commandWidth = Math.Max(totalLabel.Length, commands.Max(c => c.Length));
        const int Figure = 10; // "1023.9 MiB"
        var table = new TextTable(output,
            ("PID", pidWidth, true), ("command", commandWidth, false),
            ("RSS", Figure, true), ("PSS", Figure, true), ("USS", Figure, true), ("shared", Figure, true), ("swap", Figure, true));
        await table.WriteHeaderAsync().ConfigureAwait(false);
        for (int i = 0; i < rows.Count; i++)
        {
            MemoryUsage u = rows[i].Usage;
            await table.WriteRowAsync(rows[i].Pid.ToString(CultureInfo.InvariantCulture), commands[i],
                Units.Bytes(u.Rss), Units.Bytes(u.Pss), Units.Bytes(u.Uss), Units.Bytes(u.Shared), Units.Bytes(u.Swap)).ConfigureAwait(false);
        }
        MemTotal total = sample.Total;
        await table.WriteRowAsync("", new string('-', commandWidth), Rule(), Rule(), Rule(), Rule(), Rule()).ConfigureAwait(false);
        await table.WriteRowAsync("", totalLabel,
            Units.Bytes(total.Rss), Units.Bytes(total.Pss), Units.Bytes(total.Uss), Units.Bytes(total.Shared), Units.Bytes(total.Swap)).ConfigureAwait(false);
        if (rows.Count > 1)
        {
            await output.WriteLineAsync().ConfigureAwait(false);
            await output.WriteLineAsync("PSS and USS add up across processes; RSS and shared count a shared page once in every process that maps it.").ConfigureAwait(false);
        }

        static string Rule() => new('-', Figure);
    }

    /// <summary>Indents a descendant under its parent the way <c>ps f</c> does.</summary>
    private static string Indent(int depth) => depth == 0 ? "" : new string(' ', 2 * (depth - 1)) + @"\_ ";

    private static async Task WriteJsonAsync(TextWriter output, MemSample sample)
    {
        var report = new MemReport(
            sample.Time,
            [.. sample.Rows.Select(r => new MemProcess(r.Pid, r.ParentPid, r.Command,
                r.Usage.Rss, r.Usage.Pss, r.Usage.Uss, r.Usage.Shared, r.Usage.Swap,
                r.Usage.SharedClean, r.Usage.SharedDirty, r.Usage.PrivateClean, r.Usage.PrivateDirty, r.Usage.SwapPss,
                r.Usage.PssAnon, r.Usage.PssFile, r.Usage.PssShmem))],
            sample.Total,
            sample.Failures);
        await output.WriteLineAsync(JsonSerializer.Serialize(report, MemJsonOutput.Default.MemReport)).ConfigureAwait(false);
    }

    private static async Task WriteFailuresAsync(TextWriter error, MemSample sample)
    {
        foreach (MemFailure failure in sample.Failures)
        {
            await error.WriteLineAsync($"mp mem: {failure.Reason}").ConfigureAwait(false);
        }
    }

    private static IReadOnlyList<int> ParsePids(ArgumentResult result)
    {
        var pids = new List<int>();
        foreach (Token token in result.Tokens)
        {
            string text = token.Value;
            // System.CommandLine hands a flag it does not know to the argument; "-5" is a bad id, "--bogus" a bad flag.
            if (text.Length > 1 && text[0] == '-' && !char.IsAsciiDigit(text[1]))
            {
                result.AddError($"Unrecognized option '{text}'.");
                return [];
            }
            if (text.Length == 0 || text.AsSpan().ContainsAnyExceptInRange('0', '9')
                || !int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || pid == 0)
            {
                result.AddError($"'{text}' is not a process id (a whole number from 1 up): {Usage}.");
                return [];
            }
            if (!pids.Contains(pid))
            {
                pids.Add(pid);
            }
        }
        return pids;
    }

    private static TimeSpan? ParseInterval(ArgumentResult result)
    {
        string option = result.Parent is OptionResult { Option: { } o } ? o.Name : "--watch";
        if (result.Tokens.Count != 1)
        {
            result.AddError($"{option} takes one value, the seconds between refreshes (such as {option} 2).");
            return null;
        }
        string text = result.Tokens[0].Value;
        if (!double.TryParse(text, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out double seconds)
            || !(seconds > 0) || seconds > MaxWatchSeconds)
        {
            result.AddError(string.Create(CultureInfo.InvariantCulture,
                $"{option}: '{text}' is not a number of seconds greater than 0 and at most {MaxWatchSeconds:0} (such as 2 or 0.5)."));
            return null;
        }
        // PeriodicTimer needs at least a millisecond; a smaller interval would only burn a core anyway.
        return TimeSpan.FromSeconds(Math.Max(seconds, 0.001));
    }
}

/// <summary>One look at the processes: the rows that could be read and why the others could not.</summary>
internal sealed record MemSample(DateTimeOffset Time, IReadOnlyList<MemRow> Rows, IReadOnlyList<MemFailure> Failures)
{
    /// <summary>Sums over <see cref="Rows"/>, exact (in bytes), so that a total always equals the sum of the rows shown.</summary>
    public MemTotal Total => new(Rows.Count,
        Rows.Sum(r => r.Usage.Rss), Rows.Sum(r => r.Usage.Pss), Rows.Sum(r => r.Usage.Uss), Rows.Sum(r => r.Usage.Shared), Rows.Sum(r => r.Usage.Swap));

    /// <summary>Reads <paramref name="pids"/>, and with <paramref name="tree"/> their descendants, in tree order.</summary>
    /// <exception cref="PlatformNotSupportedException">Not Linux, or a kernel without <c>smaps_rollup</c>: nothing can be read, so the command fails as a whole.</exception>
    public static MemSample Take(IReadOnlyList<int> pids, bool tree)
    {
        DateTimeOffset time = DateTimeOffset.UtcNow;
        var rows = new List<MemRow>();
        var failures = new List<MemFailure>();
        foreach ((int pid, int depth, bool named) in tree ? ProcessTree.Descendants(pids) : pids.Select(p => (p, 0, true)))
        {
            try
            {
                // The command first: if the process ends between the two reads, the memory read
                // reports it, rather than a row with a blank name.
                string command = ProcessTree.Command(pid);
                if (ProcessMemory.TryRead(pid, out MemoryUsage? usage))
                {
                    rows.Add(new MemRow(pid, ProcessTree.ParentId(pid), depth, command, usage));
                }
                else if (named)
                {
                    // A descendant that ends while the tree is read is churn, not something the
                    // user asked about; a process the user named is.
                    failures.Add(new MemFailure(pid, Directory.Exists(ProcFs.ProcessDirectory(pid))
                        ? $"process {pid} {command} has no memory to show: it is a kernel thread, or it has exited and not yet been reaped."
                        : $"there is no process with id {pid}."));
                }
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException or InvalidDataException)
            {
                failures.Add(new MemFailure(pid, e.Message.ReplaceLineEndings(" ").Trim()));
            }
        }
        return new MemSample(time, rows, failures);
    }
}

/// <summary>One process in a <see cref="MemSample"/>.</summary>
/// <param name="Pid">Its id.</param>
/// <param name="ParentPid">Its parent's id, if it could be read.</param>
/// <param name="Depth">0 for a process named on the command line, 1 for its children, and so on.</param>
/// <param name="Command">Its command line, shortened.</param>
/// <param name="Usage">Its memory.</param>
internal sealed record MemRow(int Pid, int? ParentPid, int Depth, string Command, MemoryUsage Usage);

/// <summary>What <c>mp mem</c> shows of processes beyond their memory: names and the process tree (read through the library's <see cref="ProcFs"/>).</summary>
internal static class ProcessTree
{
    /// <summary>
    /// The command line as <c>ps</c> would show it, but with the directory dropped from absolute
    /// paths (<c>dotnet mp.dll mem</c>, not <c>/usr/lib/dotnet/dotnet /work/…/mp.dll mem</c>): the
    /// file names are what tells processes apart in a narrow column. A process without one (a
    /// kernel thread) shows its kernel name in brackets, as <c>ps</c> does.
    /// </summary>
    public static string Command(int pid)
    {
        try
        {
            string[] args = ProcFs.ReadCommandLine(pid);
            string command = args.Length > 0
                ? string.Join(' ', args.Select(Brief))
                : $"[{ProcFs.ReadKernelName(pid)}]";
            // A command line may hold any byte; a newline or escape would break the table.
            command = string.Concat(command.Select(c => char.IsControl(c) ? '?' : c));
            return command.Length <= MemCommand.MaxCommandWidth ? command : command[..(MemCommand.MaxCommandWidth - 3)] + "...";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "?";
        }

        // A program that rewrote its command line into one string ("/usr/bin/app --flag") is left
        // alone: only a whole argument that is a path is shortened.
        static string Brief(string arg) =>
            arg.Length > 1 && arg[0] == '/' && (!arg.Contains(' ', StringComparison.Ordinal) || File.Exists(arg))
            && System.IO.Path.GetFileName(arg.TrimEnd('/')) is { Length: > 0 } name
                ? name
                : arg;
    }

    /// <summary>The parent's id from <c>/proc/PID/stat</c>, or null if the process is gone.</summary>
    public static int? ParentId(int pid) => ProcFs.TryReadStat(pid, out ProcFs.ProcessStat stat) ? stat.ParentId : null;

    /// <summary>
    /// Each of <paramref name="roots"/> followed by its descendants, depth first, children in
    /// order of id; a process that is already listed (a root that descends from an earlier root) is
    /// not listed again.
    /// </summary>
    /// <remarks>
    /// The parent of every process comes from one scan of <c>/proc/*/stat</c>. The kernel's own
    /// list (<c>/proc/PID/task/TID/children</c>) would avoid the scan, but it exists only on
    /// kernels built with <c>CONFIG_PROC_CHILDREN</c> and misses children whose parent thread has
    /// exited, while a scan works everywhere and costs a few milliseconds.
    /// </remarks>
    public static IEnumerable<(int Pid, int Depth, bool Named)> Descendants(IReadOnlyList<int> roots)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (int pid in ProcFs.ProcessIds())
        {
            if (ParentId(pid) is { } parent)
            {
                if (!children.TryGetValue(parent, out List<int>? siblings))
                {
                    children[parent] = siblings = [];
                }
                siblings.Add(pid);
            }
        }
        var seen = new HashSet<int>();
        var stack = new Stack<(int Pid, int Depth, bool Named)>();
        foreach (int root in roots)
        {
            stack.Push((root, 0, true));
            while (stack.TryPop(out (int Pid, int Depth, bool Named) next))
            {
                if (!seen.Add(next.Pid))
                {
                    continue;
                }
                yield return next;
                if (children.TryGetValue(next.Pid, out List<int>? kids))
                {
                    // Pushed in reverse so that they pop in ascending order.
                    foreach (int kid in kids.OrderDescending())
                    {
                        stack.Push((kid, next.Depth + 1, false));
                    }
                }
            }
        }
    }
}

/// <summary>
/// The <c>mp mem --json</c> report, with the conventions of <see cref="JsonOutput"/>: camelCase
/// names, figures in bytes.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(MemReport))]
internal sealed partial class MemJsonOutput : JsonSerializerContext;

/// <summary>The result of <c>mp mem --json</c>; all figures in bytes.</summary>
/// <param name="Time">When the figures were read (UTC).</param>
/// <param name="Processes">Each process that could be read, in the order of the table (tree order with <c>--tree</c>).</param>
/// <param name="Total">Sums over <paramref name="Processes"/>.</param>
/// <param name="Failures">Each process that was asked for but could not be read, and why.</param>
internal sealed record MemReport(DateTimeOffset Time, IReadOnlyList<MemProcess> Processes, MemTotal Total, IReadOnlyList<MemFailure> Failures);

/// <summary>One process in <see cref="MemReport"/>; see <see cref="MemoryUsage"/> for what each figure means.</summary>
internal sealed record MemProcess(int Pid, int? ParentPid, string Command, long Rss, long Pss, long Uss, long Shared, long Swap,
    long SharedClean, long SharedDirty, long PrivateClean, long PrivateDirty, long SwapPss, long? PssAnon, long? PssFile, long? PssShmem);

/// <summary>Sums over the processes of a <see cref="MemReport"/>.</summary>
/// <param name="Processes">How many processes were summed.</param>
/// <param name="Rss">Sum of RSS: counts a shared page once per process, so it overstates what they cost together.</param>
/// <param name="Pss">Sum of PSS: what the processes cost together.</param>
/// <param name="Uss">Sum of USS: what ending all of them would free, at least.</param>
/// <param name="Shared">Sum of shared pages, counted once per process.</param>
/// <param name="Swap">Sum of swap.</param>
internal sealed record MemTotal(int Processes, long Rss, long Pss, long Uss, long Shared, long Swap);

/// <summary>A process that could not be read.</summary>
/// <param name="Pid">Its id.</param>
/// <param name="Reason">Why, in one sentence.</param>
internal sealed record MemFailure(int Pid, string Reason);
