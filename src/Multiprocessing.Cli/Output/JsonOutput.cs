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
/// <param name="Memory">The memory experiment: copied vs shared dataset, total PSS per worker count.</param>
/// <param name="Job">What was computed.</param>
/// <param name="Size">Primes were counted in [0, Size).</param>
/// <param name="Items">Ranges (pool tasks) the job was split into.</param>
/// <param name="ProcessorCount">Processors this process may use.</param>
/// <param name="Primes">Primes found by the serial baseline.</param>
/// <param name="SerialSeconds">Wall time of the serial baseline.</param>
/// <param name="Runs">One entry per pool size.</param>
/// <param name="AllAgree">Every pool run found exactly what the baseline found, range by range.</param>
internal sealed record DemoReport(DemoMemoryReport Memory, string Job, int Size, int Items, int ProcessorCount, long Primes, double SerialSeconds, IReadOnlyList<DemoRun> Runs, bool AllAgree);

/// <summary>One pool size in <see cref="DemoReport"/>.</summary>
/// <param name="Workers">Worker processes.</param>
/// <param name="StartSeconds">From creating the pool until every worker was ready.</param>
/// <param name="Seconds">Wall time of the job on the started pool.</param>
/// <param name="SpeedUp">Serial time divided by <paramref name="Seconds"/>.</param>
/// <param name="Primes">Primes found.</param>
/// <param name="Agrees">Every range's count equals the baseline's.</param>
internal sealed record DemoRun(int Workers, double StartSeconds, double Seconds, double SpeedUp, long Primes, bool Agrees);

/// <summary>The memory experiment in <see cref="DemoReport"/>.</summary>
/// <param name="Items">Elements (longs) in the dataset.</param>
/// <param name="DatasetBytes">The dataset's own size.</param>
/// <param name="Runs">One entry per mode and worker count.</param>
/// <param name="Chart">Where the SVG chart was written.</param>
internal sealed record DemoMemoryReport(long Items, long DatasetBytes, IReadOnlyList<DemoMemoryRun> Runs, string Chart);

/// <summary>One mode and worker count in <see cref="DemoMemoryReport"/>; sizes in bytes.</summary>
/// <param name="Mode"><c>copied</c> or <c>shared</c>.</param>
/// <param name="Workers">Workers alive and holding the data when memory was read.</param>
/// <param name="TotalPss">PSS of this process and its workers together.</param>
/// <param name="TotalRss">RSS of this process and its workers together (counts shared pages in every process).</param>
/// <param name="ParentPss">This process's PSS.</param>
/// <param name="ParentRss">This process's RSS.</param>
/// <param name="WorkerPss">Each worker's PSS.</param>
/// <param name="WorkerRss">Each worker's RSS, in the same order.</param>
/// <param name="Agrees">Every worker read the whole dataset.</param>
internal sealed record DemoMemoryRun(string Mode, int Workers, long TotalPss, long TotalRss, long ParentPss, long ParentRss, IReadOnlyList<long> WorkerPss, IReadOnlyList<long> WorkerRss, bool Agrees);
