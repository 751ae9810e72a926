using System.CommandLine;
using System.CommandLine.Parsing;
using Multiprocessing.Cli.Bench;

namespace Multiprocessing.Cli.Commands;

/// <summary>
/// <c>mp bench</c>: the benchmark suite. Runs each workload group (the pool, shared memory, locks,
/// channels, CPU-bound speed-up) on this library and on its peers (CPython multiprocessing, the C
/// floors) in one sitting, and writes a report with medians, min/max, the ratio ours ÷ peer and the
/// DESIGN.md section 5 target of each row, plus one SVG chart per group.
/// </summary>
/// <remarks>
/// The suite starts the benchmark runner of the repository (bench/Multiprocessing.Benchmarks) as a
/// child process per group, so it must run from a clone. It measures and reports: no figure makes
/// it fail. A group whose runner mode does not exist yet is listed as not measured.
/// </remarks>
public sealed class BenchCommand : CliCommand
{
    /// <summary>The group names <c>--only</c> accepts, in suite order.</summary>
    public static readonly IReadOnlyList<string> GroupNames = [.. BenchSuite.AllGroups.Select(g => g.Name)];

    /// <summary>Where the report goes by default, relative to the repository root.</summary>
    public const string DefaultReport = "docs/BENCHMARKS.md";

    private readonly Option<bool> _quick = new("--quick", "-q")
    {
        Description = "CI-sized runs: fewer rounds and smaller sizes in every group (a few minutes in all).",
    };

    private readonly Option<string> _out = new("--out", "-o")
    {
        Description = $"The report to write; its charts go to images/ beside it. [default: {DefaultReport} in the repository]",
        HelpName = "FILE",
    };

    private readonly Option<IReadOnlyList<string>> _only = new("--only")
    {
        Description = $"Run only these groups (comma-separated): {string.Join(", ", BenchSuite.AllGroups.Select(g => g.Name))}.",
        HelpName = "GROUPS",
        CustomParser = ParseGroups,
    };

    private readonly Option<bool> _noBuild = new("--no-build")
    {
        Description = "Run the existing Release build of bench/Multiprocessing.Benchmarks instead of building it first.",
    };

    private readonly Option<string> _python = new("--python")
    {
        Description = "The CPython interpreter of the peers. [default: /usr/bin/python3]",
        HelpName = "PATH",
    };

    /// <summary>Creates the command.</summary>
    public BenchCommand() : base("bench", "Run the benchmark suite side by side with CPython multiprocessing and the C floors, and write the report (docs/BENCHMARKS.md) with charts.")
    {
        Options.Add(_quick);
        Options.Add(_out);
        Options.Add(_only);
        Options.Add(_noBuild);
        Options.Add(_python);
        Validators.Add(result =>
        {
            if (result.GetResult(_out) is { Tokens: [{ } token] } && (token.Value.Length == 0 || Directory.Exists(token.Value) || token.Value.EndsWith('/')))
            {
                result.AddError($"--out: '{token.Value}' is a folder; give a file name such as {DefaultReport}.");
            }
        });
    }

    /// <inheritdoc/>
    protected override async Task<int> ExecuteAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        TextWriter output = parseResult.InvocationConfiguration.Output;
        TextWriter error = parseResult.InvocationConfiguration.Error;
        BenchRepository? repository = BenchRepository.Find();
        if (repository is null)
        {
            await error.WriteLineAsync("mp bench: needs the repository (it runs bench/Multiprocessing.Benchmarks and bench/python/): run it from a clone of Multiprocessing for .NET, such as 'cd multiprocessing && dotnet run --project src/Multiprocessing.Cli -- bench'.").ConfigureAwait(false);
            return MpCommandLine.Failure;
        }
        bool quick = parseResult.GetValue(_quick);
        IReadOnlyList<string> groups = parseResult.GetValue(_only) is { Count: > 0 } only ? only : GroupNames;
        string outFile = parseResult.GetValue(_out) is { } o ? Path.GetFullPath(o) : Path.Combine(repository.Root, DefaultReport);
        string python = parseResult.GetValue(_python) ?? "/usr/bin/python3";
        string commandLine = "mp bench" + (quick ? " --quick" : "")
            + (parseResult.GetResult(_only) is not null ? " --only " + string.Join(',', groups) : "")
            + (parseResult.GetValue(_out) is { } shown ? " --out " + shown : "")
            + (parseResult.GetValue(_noBuild) ? " --no-build" : "")
            + (parseResult.GetValue(_python) is { } p ? " --python " + p : "");
        var options = new BenchOptions(quick, outFile, groups, !parseResult.GetValue(_noBuild), python, commandLine)
        {
            UpdateGroupReports = !quick && parseResult.GetValue(_out) is null,
        };
        IReadOnlyList<GroupResult> results = await new BenchSuite(repository, options, error).RunAsync(cancellationToken).ConfigureAwait(false);

        foreach (GroupResult group in results.Where(g => g.Status != GroupStatus.Skipped))
        {
            int targeted = group.Rows.Count(r => r.Target.Length > 0);
            int gaps = group.Rows.Count(r => r.IsGap);
            string status = group.Status switch
            {
                GroupStatus.Measured => $"measured, {targeted} row(s) with a target, {gaps} not met",
                GroupStatus.NotAvailable => "not measured (no runner mode yet)",
                _ => "FAILED: " + group.Notes.LastOrDefault(),
            };
            await output.WriteLineAsync($"{group.Name,-10} {status}").ConfigureAwait(false);
        }
        await output.WriteLineAsync($"Report: {outFile}").ConfigureAwait(false);
        // A failed group is a failed run (exit code 1), but the report of the others is still written.
        return results.Any(g => g.Status == GroupStatus.Failed) ? MpCommandLine.Failure : MpCommandLine.Success;
    }

    private static IReadOnlyList<string> ParseGroups(ArgumentResult result)
    {
        var groups = new List<string>();
        foreach (Token token in result.Tokens)
        {
            foreach (string part in token.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                string name = part.ToLowerInvariant();
                if (!GroupNames.Contains(name))
                {
                    result.AddError($"--only: '{part}' is not a group; choose from {string.Join(", ", GroupNames)}.");
                    return [];
                }
                if (!groups.Contains(name))
                {
                    groups.Add(name);
                }
            }
        }
        if (groups.Count == 0)
        {
            result.AddError($"--only: give one or more groups, such as --only pool,speedup (choose from {string.Join(", ", GroupNames)}).");
        }
        return groups;
    }
}
