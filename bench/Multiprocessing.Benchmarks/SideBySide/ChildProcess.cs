using System.Diagnostics;
using System.Text;

namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>What a child process printed, and how long it took to print its first line.</summary>
internal sealed record ChildOutput(string FirstLine, string StandardOutput, string StandardError, int ExitCode, TimeSpan ToFirstLine);

/// <summary>Runs the peers (CPython, the C floor, this program's <c>startonce</c>) as child processes.</summary>
internal static class ChildProcess
{
    public static async Task<ChildOutput> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var cancel = new CancellationTokenSource(timeout);
        long started = Stopwatch.GetTimestamp();
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        process.StandardInput.Close();
        Task<string> errors = process.StandardError.ReadToEndAsync(cancel.Token);
        try
        {
            string firstLine = await process.StandardOutput.ReadLineAsync(cancel.Token).ConfigureAwait(false) ?? "";
            TimeSpan toFirstLine = Stopwatch.GetElapsedTime(started);
            var rest = new StringBuilder(firstLine).AppendLine();
            rest.Append(await process.StandardOutput.ReadToEndAsync(cancel.Token).ConfigureAwait(false));
            await process.WaitForExitAsync(cancel.Token).ConfigureAwait(false);
            return new ChildOutput(firstLine, rest.ToString(), await errors.ConfigureAwait(false), process.ExitCode, toFirstLine);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', start.ArgumentList)} did not finish within {timeout.TotalSeconds:0} s.");
        }
    }

    /// <summary>Runs and throws, with its error output, if the child fails.</summary>
    public static async Task<ChildOutput> RunCheckedAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout)
    {
        ChildOutput output = await RunAsync(fileName, arguments, timeout).ConfigureAwait(false);
        if (output.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} {string.Join(' ', arguments)} exited with {output.ExitCode}: {output.StandardError.Trim()}");
        }
        return output;
    }
}
