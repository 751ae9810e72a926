using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>The CPython peer: bench/python/pool_peer.py, one fresh interpreter per measurement.</summary>
internal sealed class PythonPeer(string python, string script)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(3);

    public string Python { get; } = python;

    public string? Version { get; private set; }

    public async Task<double> MapItemsPerSecondAsync(string startMethod, int items, int? chunkSize)
    {
        JsonElement json = await RunAsync("map", "--start", startMethod, "--n", Invariant(items), "--chunksize", chunkSize is int c ? Invariant(c) : "auto").ConfigureAwait(false);
        return json.GetProperty("items_per_s").GetDouble();
    }

    public async Task<(double P50, double P99)> RoundTripAsync(string startMethod, int count)
    {
        JsonElement json = await RunAsync("roundtrip", "--start", startMethod, "--n", Invariant(count)).ConfigureAwait(false);
        return (json.GetProperty("p50_us").GetDouble(), json.GetProperty("p99_us").GetDouble());
    }

    /// <summary>Pool start to first result as the script measures it, and launch to that line as the parent sees it.</summary>
    public async Task<(double InsideMs, double WallMs)> StartAsync(string startMethod)
    {
        ChildOutput output = await ChildProcess.RunCheckedAsync(Python, [script, "start", "--start", startMethod], s_timeout).ConfigureAwait(false);
        using var json = JsonDocument.Parse(output.FirstLine);
        return (json.RootElement.GetProperty("ms").GetDouble(), output.ToFirstLine.TotalMilliseconds);
    }

    /// <summary>Each worker's memory, and how many processes mapped the interpreter's executable at the time.</summary>
    public async Task<(IReadOnlyList<RollupMemory> Workers, int Sharers)> IdleWorkersAsync(string startMethod)
    {
        JsonElement json = await RunAsync("idle", "--start", startMethod).ConfigureAwait(false);
        RollupMemory[] workers = [.. json.GetProperty("workers").EnumerateArray().Select(w => new RollupMemory(w.GetProperty("rss").GetInt64(), w.GetProperty("pss").GetInt64(), w.GetProperty("uss").GetInt64()))];
        return (workers, json.GetProperty("sharers").GetInt32());
    }

    private async Task<JsonElement> RunAsync(params string[] arguments)
    {
        ChildOutput output = await ChildProcess.RunCheckedAsync(Python, [script, .. arguments], s_timeout).ConfigureAwait(false);
        using var json = JsonDocument.Parse(output.FirstLine);
        JsonElement root = json.RootElement.Clone();
        if (root.TryGetProperty("python", out JsonElement version))
        {
            Version = version.GetString();
        }
        return root;
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The C floor: bench/floors/pipe_pingpong.c (built by the runner), one byte each way through two pipes between two processes.</summary>
internal sealed partial class PipeFloor(string program)
{
    public string Program { get; } = program;

    public async Task<(double P50, double P99)> RoundTripAsync(int count)
    {
        ChildOutput output = await ChildProcess.RunCheckedAsync(Program, [count.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromMinutes(2)).ConfigureAwait(false);
        Match match = Line().Match(output.FirstLine);
        if (!match.Success)
        {
            throw new InvalidDataException($"Unexpected output from {Program}: {output.FirstLine}");
        }
        return (double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), double.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"p50 ([0-9.]+) us, p99 ([0-9.]+) us")]
    private static partial Regex Line();
}
