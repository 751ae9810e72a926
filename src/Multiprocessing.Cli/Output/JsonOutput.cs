using System.Text.Json;
using System.Text.Json.Serialization;

namespace Multiprocessing.Cli.Output;

/// <summary>
/// The machine-readable reports of <c>--json</c>: camelCase names, times in seconds. Serialised
/// with a source-generated context, so the tool needs no reflection to write them.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(DemoReport))]
internal sealed partial class JsonOutput : JsonSerializerContext;

/// <summary>The result of <c>mp demo --json</c>.</summary>
/// <param name="Job">What was computed.</param>
/// <param name="Size">Primes were counted in [0, Size).</param>
/// <param name="Items">Ranges (pool tasks) the job was split into.</param>
/// <param name="ProcessorCount">Processors this process may use.</param>
/// <param name="Primes">Primes found by the serial baseline.</param>
/// <param name="SerialSeconds">Wall time of the serial baseline.</param>
/// <param name="Runs">One entry per pool size.</param>
/// <param name="AllAgree">Every pool run found exactly what the baseline found, range by range.</param>
internal sealed record DemoReport(string Job, int Size, int Items, int ProcessorCount, long Primes, double SerialSeconds, IReadOnlyList<DemoRun> Runs, bool AllAgree);

/// <summary>One pool size in <see cref="DemoReport"/>.</summary>
/// <param name="Workers">Worker processes.</param>
/// <param name="StartSeconds">From creating the pool until every worker was ready.</param>
/// <param name="Seconds">Wall time of the job on the started pool.</param>
/// <param name="SpeedUp">Serial time divided by <paramref name="Seconds"/>.</param>
/// <param name="Primes">Primes found.</param>
/// <param name="Agrees">Every range's count equals the baseline's.</param>
internal sealed record DemoRun(int Workers, double StartSeconds, double Seconds, double SpeedUp, long Primes, bool Agrees);
