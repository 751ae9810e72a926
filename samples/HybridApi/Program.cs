using HybridApi;
using Multiprocessing;
using OpenTelemetry.Trace;

// A minimal API that keeps its request threads free: CPU-bound work runs in the process pool's
// workers, and this process only awaits the result. /primes/inline does the same work on the
// request thread, for comparison (see README.md for both under load).
WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
// Each worker exports its own spans (the pool's run span and the method's) from its initializer.
builder.Services.AddProcessPool(builder.Configuration.GetSection("ProcessPool"), pool => pool.Initializer = WorkerTracing.Start);
// Traces to the console: the request's span, the pool's submit span under it, and (printed by the
// workers, through the pool's worker log) the run span of the task in the worker.
builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing
    .AddSource(ProcessPoolActivities.SourceName)
    .AddAspNetCoreInstrumentation()
    .AddConsoleExporter());
WebApplication app = builder.Build();

app.MapGet("/primes/pool", async (int? n, ProcessPool pool, CancellationToken cancellationToken) =>
{
    int bound = n ?? 100_000;
    if (bound is < 0 or > Primes.MaxBound)
    {
        return Results.BadRequest($"n must be between 0 and {Primes.MaxBound}.");
    }
    int count = await pool.SubmitAsync(Primes.CountBelow, bound, cancellationToken);
    return Results.Ok(new PrimeCount(bound, count, "pool"));
});

app.MapGet("/primes/inline", (int? n, CancellationToken cancellationToken) =>
{
    int bound = n ?? 100_000;
    if (bound is < 0 or > Primes.MaxBound)
    {
        return Results.BadRequest($"n must be between 0 and {Primes.MaxBound}.");
    }
    return Results.Ok(new PrimeCount(bound, Primes.CountBelow(bound, cancellationToken), "inline"));
});

// Cheap: shows whether request threads are free while the CPU-bound endpoints are loaded.
app.MapGet("/health", () => "ok");

// The pool's workers and what they cost, as the kernel counts it.
app.MapGet("/pool", (ProcessPool pool) =>
{
    PoolMemoryUsage memory = pool.GetMemoryUsage();
    return new PoolStatus(pool.WorkerProcessIds, memory.Parent.Pss, memory.Workers.Sum(w => w.Pss));
});

app.Run();

/// <summary>The answer of the prime endpoints.</summary>
/// <param name="N">The exclusive bound.</param>
/// <param name="Count">How many primes are below it.</param>
/// <param name="RanIn">"pool" or "inline".</param>
internal sealed record PrimeCount(int N, int Count, string RanIn);

/// <summary>The answer of <c>/pool</c>.</summary>
/// <param name="Workers">Process ids of the running workers.</param>
/// <param name="ParentPss">This process's PSS in bytes.</param>
/// <param name="WorkersPss">The workers' PSS in bytes, added up.</param>
internal sealed record PoolStatus(IReadOnlyList<int> Workers, long ParentPss, long WorkersPss);
