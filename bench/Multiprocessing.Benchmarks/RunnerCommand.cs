using System.CommandLine;
using System.CommandLine.Parsing;
using Multiprocessing.Benchmarks.SideBySide;

namespace Multiprocessing.Benchmarks;

/// <summary>
/// The command line of a side-by-side mode: the options every mode shares (<c>--quick</c>,
/// <c>--rounds</c>, <c>--python</c>, <c>--floors</c>, <c>--out</c>, <c>--no-write</c>, <c>--json</c>)
/// defined once here, and the mode's own options added by the mode.
/// </summary>
internal sealed class RunnerCommand : Command
{
    private readonly Option<bool> _quick = new("--quick") { Description = "CI-sized run: fewer rounds and smaller sizes." };

    private readonly Option<int?> _rounds = new("--rounds") { Description = "Rounds (each measurement once per round).", HelpName = "N" };

    private readonly Option<string> _python = new("--python")
    {
        Description = "The CPython interpreter of the peers.",
        HelpName = "PATH",
        DefaultValueFactory = _ => "/usr/bin/python3",
    };

    private readonly Option<string?> _floors = new("--floors")
    {
        Description = "The C floors' sources (default bench/floors); built with cc into the runner's output folder.",
        HelpName = "DIR",
    };

    private readonly Option<string?> _out = new("--out") { Description = "The markdown page to write.", HelpName = "FILE" };

    private readonly Option<bool> _noWrite = new("--no-write") { Description = "Print the page, write no file." };

    private readonly Option<string?> _json = new("--json") { Description = "Also write the results as JSON (for mp bench).", HelpName = "FILE" };

    private readonly string _peerScript;

    /// <summary>Creates the command of <paramref name="mode"/> with the shared options.</summary>
    /// <param name="mode">The mode's name.</param>
    /// <param name="peerScript">Its CPython peer, a script of bench/python.</param>
    /// <param name="description">What it measures.</param>
    public RunnerCommand(string mode, string peerScript, string description) : base(mode, description)
    {
        _peerScript = peerScript;
        _rounds.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is <= 0)
            {
                result.AddError("--rounds: give a positive number.");
            }
        });
        Options.Add(_quick);
        Options.Add(_rounds);
        Options.Add(_python);
        Options.Add(_floors);
        Options.Add(_out);
        Options.Add(_noWrite);
        Options.Add(_json);
    }

    /// <summary>
    /// Parses <paramref name="args"/> and returns the shared options' values (the mode reads its own
    /// from <paramref name="result"/>); on an error prints it and the usage to stderr and returns null.
    /// </summary>
    /// <param name="args">The arguments after the mode's name.</param>
    /// <param name="page">The mode's page in docs/benchmarks/, written unless --out or --no-write says otherwise.</param>
    /// <param name="quickWritesPage">Whether a --quick run writes the page by default (else it only prints it).</param>
    /// <param name="result">The parse, for the mode's own options.</param>
    public RunnerArguments? ParseCommon(string[] args, string page, bool quickWritesPage, out ParseResult result)
    {
        result = Parse(args);
        if (result.Errors.Count == 0)
        {
            return Common(result, page, quickWritesPage);
        }
        foreach (ParseError error in result.Errors)
        {
            Console.Error.WriteLine($"{Name}: {error.Message}");
        }
        Console.Error.WriteLine("usage: " + Usage());
        return null;
    }

    private RunnerArguments Common(ParseResult result, string page, bool quickWritesPage)
    {
        string root = Repository.FindRoot();
        bool quick = result.GetValue(_quick);
        string? output = result.GetValue(_noWrite) ? null
            : result.GetValue(_out) is { } file ? Path.GetFullPath(file)
            : quick && !quickWritesPage ? null
            : Path.Combine(root, "docs", "benchmarks", page);
        return new RunnerArguments
        {
            Quick = quick,
            Rounds = result.GetValue(_rounds),
            Python = result.GetValue(_python)!,
            PeerScript = Path.Combine(root, "bench", "python", _peerScript),
            FloorSources = result.GetValue(_floors) is { } floors ? Path.GetFullPath(floors) : Floors.DefaultSources(root),
            OutputFile = output,
            JsonFile = result.GetValue(_json) is { } json ? Path.GetFullPath(json) : null,
            Arguments = Shown(result.Tokens),
            RepositoryRoot = root,
        };
    }

    /// <summary>The arguments as the page's "Command:" line shows them: without --json, which only says where mp bench reads the results.</summary>
    private string Shown(IReadOnlyList<Token> tokens)
    {
        var shown = new List<string>();
        for (int i = 0; i < tokens.Count; i++)
        {
            if (tokens[i].Value == _json.Name)
            {
                i++;
                continue;
            }
            shown.Add(tokens[i].Value);
        }
        return string.Join(' ', shown);
    }

    private string Usage() =>
        Name + " " + string.Join(' ', Options.Select(o => o is Option<bool> ? $"[{o.Name}]" : $"[{o.Name} {o.HelpName ?? "VALUE"}]"));
}

/// <summary>The values of the options every side-by-side mode shares.</summary>
internal sealed record RunnerArguments
{
    /// <summary>CI-sized run.</summary>
    public bool Quick { get; init; }

    /// <summary>Rounds asked for, or null for the mode's default.</summary>
    public int? Rounds { get; init; }

    /// <summary>The CPython interpreter.</summary>
    public required string Python { get; init; }

    /// <summary>The mode's CPython peer script.</summary>
    public required string PeerScript { get; init; }

    /// <summary>The folder of the C floors' sources.</summary>
    public required string FloorSources { get; init; }

    /// <summary>The page to write, or null to only print it.</summary>
    public string? OutputFile { get; init; }

    /// <summary>Where to write the results as JSON, or null.</summary>
    public string? JsonFile { get; init; }

    /// <summary>The arguments as typed (without --json), for the page's "Command:" line.</summary>
    public required string Arguments { get; init; }

    /// <summary>The repository the runner belongs to.</summary>
    public required string RepositoryRoot { get; init; }

    /// <summary>Whether the CPython peer can run (the interpreter and its script exist); when not, says so on stderr.</summary>
    /// <param name="log">The mode's log.</param>
    /// <param name="missing">What the figures show without it, such as "CPython columns will be n/a".</param>
    public bool HasPython(Action<string> log, string missing = "CPython columns will be n/a")
    {
        bool present = File.Exists(Python) && File.Exists(PeerScript);
        if (!present)
        {
            log($"CPython peer unavailable ({Python} or {PeerScript} missing): {missing}.");
        }
        return present;
    }

    /// <summary>The commit the library was built from, and whether <paramref name="folder"/> had uncommitted changes ("commit abc1234 … , with uncommitted changes in src/").</summary>
    /// <param name="folder">The sources that matter to the mode, relative to the repository.</param>
    /// <param name="aside">Said after the folder when it has changes.</param>
    public async Task<string> DescribeSourceAsync(string folder, string aside = "")
    {
        try
        {
            ChildOutput head = await ChildProcess.RunCheckedAsync("git", ["-C", RepositoryRoot, "log", "-1", "--format=%h %cI %s"], TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            ChildOutput dirty = await ChildProcess.RunCheckedAsync("git", ["-C", RepositoryRoot, "status", "--porcelain", "--", folder], TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            return $"commit {head.FirstLine.Trim()}" + (dirty.StandardOutput.Trim().Length > 0 ? $", with uncommitted changes in {folder}/{aside}" : "");
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or TimeoutException)
        {
            return "unknown (git not available)";
        }
    }

    /// <summary>Writes <paramref name="results"/> to <see cref="JsonFile"/> when one was given.</summary>
    public async Task WriteJsonAsync(Results.RunnerResults results)
    {
        if (JsonFile is not null)
        {
            await Results.RunnerResultsFile.WriteAsync(JsonFile, results).ConfigureAwait(false);
        }
    }
}
