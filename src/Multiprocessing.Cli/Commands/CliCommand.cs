using System.CommandLine;

namespace Multiprocessing.Cli.Commands;

/// <summary>
/// Base of every <c>mp</c> sub-command: runs <see cref="ExecuteAsync"/> and turns the failures a
/// user can act on (a worker that would not start, a task that threw, a file that is missing)
/// into one line on standard error and a non-zero exit code, never a stack trace.
/// </summary>
/// <remarks>Set the environment variable <c>MP_CLI_TRACE=1</c> to see the full exception as well.</remarks>
public abstract class CliCommand : Command
{
    /// <summary>Environment variable that, set to 1, adds the full exception to a failure message.</summary>
    public const string TraceVariable = "MP_CLI_TRACE";

    /// <summary>Creates the command.</summary>
    /// <param name="name">The word that selects it, as in <c>mp demo</c>.</param>
    /// <param name="description">One sentence for the help text.</param>
    protected CliCommand(string name, string description) : base(name, description)
    {
        SetAction(RunAsync);
    }

    /// <summary>Runs the command.</summary>
    /// <param name="parseResult">The parsed command line: read option values from it, and write through its <see cref="ParseResult.InvocationConfiguration"/>.</param>
    /// <param name="cancellationToken">Cancelled on Ctrl+C or SIGTERM.</param>
    /// <returns>The exit code; see <see cref="MpCommandLine"/>.</returns>
    protected abstract Task<int> ExecuteAsync(ParseResult parseResult, CancellationToken cancellationToken);

    private async Task<int> RunAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        TextWriter error = parseResult.InvocationConfiguration.Error;
        try
        {
            return await ExecuteAsync(parseResult, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await error.WriteLineAsync($"mp {Name}: cancelled.").ConfigureAwait(false);
            return MpCommandLine.Cancelled;
        }
        catch (Exception e) when (e is WorkerException or WorkerStartException or TimeoutException or IOException
            or UnauthorizedAccessException or InvalidOperationException or PlatformNotSupportedException
            or System.Security.Authentication.AuthenticationException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            await error.WriteLineAsync($"mp {Name}: {OneLine(e.Message)}").ConfigureAwait(false);
            if (Environment.GetEnvironmentVariable(TraceVariable) == "1")
            {
                await error.WriteLineAsync(e.ToString()).ConfigureAwait(false);
            }
            return MpCommandLine.Failure;
        }
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
