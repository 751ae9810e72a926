using System.CommandLine;
using System.CommandLine.Help;
using System.Runtime.InteropServices;
using Multiprocessing.Cli.Commands;

namespace Multiprocessing.Cli;

/// <summary>
/// The <c>mp</c> command line: builds the command tree, parses, reports usage errors in one line
/// and runs the chosen command.
/// </summary>
/// <remarks>
/// Adding a command is one new file in <c>Commands/</c> (a class deriving from
/// <see cref="CliCommand"/>) and one line in <see cref="CreateRootCommand"/>.
/// </remarks>
public static class MpCommandLine
{
    /// <summary>Exit code of a successful run.</summary>
    public const int Success = 0;

    /// <summary>Exit code of a command that ran and failed (a worker could not start, results disagreed, …).</summary>
    public const int Failure = 1;

    /// <summary>Exit code of a command line that could not be parsed (unknown flag, bad value).</summary>
    public const int UsageError = 2;

    /// <summary>Exit code after Ctrl+C or SIGTERM, as shells report it (128 + SIGINT).</summary>
    public const int Cancelled = 130;

    /// <summary>Builds the root <c>mp</c> command with every sub-command.</summary>
    /// <returns>The root command.</returns>
    public static RootCommand CreateRootCommand() =>
        new("mp: process pools for .NET on Linux. Demos, memory breakdowns and benchmarks.")
        {
            new DemoCommand(),
            new MemCommand(),
            new BenchCommand(),
            new NodeCommand(),
            new ClusterCommand(),
        };

    /// <summary>Parses <paramref name="args"/> and runs the chosen command.</summary>
    /// <param name="args">The command-line arguments, without the program name.</param>
    /// <param name="output">Where results go; the default is standard output.</param>
    /// <param name="error">Where errors go; the default is standard error.</param>
    /// <returns>The process exit code: <see cref="Success"/>, <see cref="Failure"/>, <see cref="UsageError"/> or <see cref="Cancelled"/>.</returns>
    public static async Task<int> RunAsync(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        output ??= Console.Out;
        error ??= Console.Error;
        RootCommand root = CreateRootCommand();
        ParseResult parse = root.Parse(args);
        // System.CommandLine's own error report prints every error followed by the full help text.
        // A usage error deserves one line that names the problem and where to read more.
        if (parse.Errors.Count > 0 && parse.Action is not HelpAction)
        {
            string command = CommandPath(parse);
            await error.WriteLineAsync($"{command}: {FirstError(parse)} Run '{command} --help' for usage.").ConfigureAwait(false);
            return UsageError;
        }
        // SIGTERM and Ctrl+C cancel the command's token, and the command ends on its own (a watch
        // loop returns, a benchmark stops its children). The signals are handled here rather than by
        // System.CommandLine's own handler: under load that one let a SIGTERM take the default action
        // (the process ended with 143 after the command had finished, 'mp mem --watch' in the suite).
        using var stop = new CancellationTokenSource();
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        var invocation = new InvocationConfiguration
        {
            Output = output,
            Error = error,
            // Commands turn their own failures into one-line messages (see CliCommand); anything
            // that still escapes is a bug in mp and its stack trace is worth having.
            EnableDefaultExceptionHandler = true,
            ProcessTerminationTimeout = null,
        };
        return await parse.InvokeAsync(invocation, stop.Token).ConfigureAwait(false);

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            try
            {
                stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The command has already returned.
            }
        }
    }

    /// <summary>The error to show: a word that was not understood (<c>mp bogus</c>) explains more than the missing command it caused.</summary>
    private static string FirstError(ParseResult parse)
    {
        if (parse.UnmatchedTokens.Count > 0)
        {
            string token = $"'{parse.UnmatchedTokens[0]}'";
            if (parse.Errors.FirstOrDefault(e => e.Message.Contains(token, StringComparison.Ordinal)) is { } unmatched)
            {
                return unmatched.Message;
            }
        }
        return parse.Errors[0].Message;
    }

    private static string CommandPath(ParseResult parse)
    {
        var names = new Stack<string>();
        for (System.CommandLine.Parsing.SymbolResult? result = parse.CommandResult; result is not null; result = result.Parent)
        {
            if (result is System.CommandLine.Parsing.CommandResult { Command: { } command })
            {
                names.Push(command is RootCommand ? "mp" : command.Name);
            }
        }
        return string.Join(' ', names);
    }
}
