using Multiprocessing;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace HybridApi;

/// <summary>Runs in each worker process, as the pool's initializer: exports the spans recorded there.</summary>
internal static class WorkerTracing
{
    // Kept for the worker's lifetime: disposing the provider would stop the export.
    private static TracerProvider? s_provider;

    /// <summary>Starts a tracer provider for the pool's source (the run spans, children of the caller's submit span) and writes its spans to the console.</summary>
    public static void Start() =>
        s_provider = Sdk.CreateTracerProviderBuilder()
            .AddSource(ProcessPoolActivities.SourceName)
            .AddConsoleExporter()
            .Build();
}
