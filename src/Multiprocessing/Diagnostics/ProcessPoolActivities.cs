using System.Diagnostics;

namespace Multiprocessing;

/// <summary>
/// The names of the spans (<see cref="Activity"/> objects) a <see cref="ProcessPool"/> reports, on one
/// <see cref="ActivitySource"/> named <see cref="SourceName"/>: record them with OpenTelemetry's
/// <c>AddSource("Multiprocessing")</c> or an <see cref="ActivityListener"/>.
/// </summary>
/// <remarks>
/// <para>
/// In the calling process: one <see cref="SubmitActivityName"/> span per <c>SubmitAsync</c> and one
/// <see cref="MapActivityName"/> span per <c>MapAsync</c>, <c>Map</c> or <c>MapStreamAsync</c>, children
/// of <see cref="Activity.Current"/> at the call (a stream's span starts when it is first read).
/// In the worker: one <see cref="RunActivityName"/> span per unit it runs (a submitted task, or a
/// map's chunk), tagged with <see cref="MethodTag"/>, <see cref="ItemCountTag"/> and
/// <see cref="WorkerPidTag"/>, and made <see cref="Activity.Current"/> while the method runs, so the
/// spans the method starts nest under it.
/// </para>
/// <para>
/// The caller's trace context (its W3C <c>traceparent</c> and <c>tracestate</c>: the submit or map
/// span's, or <see cref="Activity.Current"/>'s when nothing records the pool's spans) travels with each
/// unit. A worker records spans only if a listener exists in the worker process: set one up in
/// <see cref="ProcessPoolOptions.Initializer"/>, for instance an OpenTelemetry <c>TracerProvider</c> with
/// <c>AddSource(ProcessPoolActivities.SourceName)</c> and the method's own sources. When no listener in
/// the worker takes this source, the run span is still created (unrecorded) so that the method's own
/// spans keep the caller's trace id; their parent is then that unrecorded span, whose own parent is
/// the caller's span, so add this source to the worker's provider to see the whole tree.
/// </para>
/// <para>
/// With no <see cref="Activity.Current"/> at the call and no listener, nothing is created and nothing
/// travels: the cost is a check per call and per unit.
/// </para>
/// </remarks>
public static class ProcessPoolActivities
{
    /// <summary>The activity source's name (its version is the assembly's).</summary>
    public const string SourceName = "Multiprocessing";

    /// <summary>The span of one <c>SubmitAsync</c>, from the call until its task completes.</summary>
    public const string SubmitActivityName = "Multiprocessing.Submit";

    /// <summary>The span of one <c>MapAsync</c>, <c>Map</c> or <c>MapStreamAsync</c>, until its last result (or its failure).</summary>
    public const string MapActivityName = "Multiprocessing.Map";

    /// <summary>The span of one unit (a task, or a chunk of a map) run in a worker process.</summary>
    public const string RunActivityName = "Multiprocessing.Run";

    /// <summary>The tag that names the method the pool runs (declaring type and name).</summary>
    public const string MethodTag = "multiprocessing.method";

    /// <summary>The tag that gives a run span's item count (1 for a submitted task).</summary>
    public const string ItemCountTag = "multiprocessing.items";

    /// <summary>The tag that gives the process id of the worker that ran the unit.</summary>
    public const string WorkerPidTag = "multiprocessing.worker.pid";

    /// <summary>The tag that names the pool (<see cref="ProcessPoolOptions.Name"/>), when it has one.</summary>
    public const string PoolTag = "multiprocessing.pool";
}

/// <summary>The library's one activity source, and the span a worker starts for each unit it runs.</summary>
internal static class LibraryTracing
{
    public static readonly ActivitySource Source = new(ProcessPoolActivities.SourceName, typeof(LibraryTracing).Assembly.GetName().Version?.ToString());

    /// <summary>
    /// In a worker: starts the span of one unit, as a child of the context the unit carried. When no
    /// listener takes this source, an unrecorded activity still carries that context, so that the
    /// spans the method starts from its own sources join the caller's trace. Null when the unit
    /// carried no context and nothing listens.
    /// </summary>
    public static Activity? StartRun(string? traceParent, string? traceState, string method, int count)
    {
        ActivityContext parent = default;
        if (traceParent is not null)
        {
            ActivityContext.TryParse(traceParent, traceState, isRemote: true, out parent);
        }
        Activity? run = Source.HasListeners() ? Source.StartActivity(ProcessPoolActivities.RunActivityName, ActivityKind.Internal, parent) : null;
        if (run is null && parent != default)
        {
            run = new Activity(ProcessPoolActivities.RunActivityName);
            run.SetParentId(parent.TraceId, parent.SpanId, parent.TraceFlags);
            run.TraceStateString = parent.TraceState;
            run.Start();
        }
        if (run is { IsAllDataRequested: true })
        {
            run.SetTag(ProcessPoolActivities.MethodTag, method);
            run.SetTag(ProcessPoolActivities.ItemCountTag, count);
            run.SetTag(ProcessPoolActivities.WorkerPidTag, Environment.ProcessId);
        }
        return run;
    }
}
