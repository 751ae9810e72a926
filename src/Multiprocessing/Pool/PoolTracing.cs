using System.Diagnostics;
using Multiprocessing.Scheduling;

namespace Multiprocessing.Pool;

/// <summary>The spans the parent starts for submits and maps, on <see cref="LibraryTracing.Source"/>.</summary>
internal static class PoolTracing
{
    private static ActivitySource Source => LibraryTracing.Source;

    /// <summary>
    /// Starts a submit or map span as a child of <see cref="Activity.Current"/>, or returns null when
    /// nothing listens. The caller's <see cref="Activity.Current"/> is left as it was: the span is ended
    /// elsewhere, on another thread, and must not become the caller's current activity.
    /// </summary>
    public static Activity? StartCallSpan(string name, RegisteredMethod method, string? pool)
    {
        if (!Source.HasListeners())
        {
            return null;
        }
        Activity? previous = Activity.Current;
        Activity? span = Source.StartActivity(name, ActivityKind.Internal);
        if (span is null)
        {
            return null;
        }
        Activity.Current = previous;
        if (span.IsAllDataRequested)
        {
            span.SetTag(ProcessPoolActivities.MethodTag, method.Method.DisplayName);
            if (pool is not null)
            {
                span.SetTag(ProcessPoolActivities.PoolTag, pool);
            }
        }
        return span;
    }

    /// <summary>Ends a span started by <see cref="StartCallSpan"/> on whatever thread completes it, leaving that thread's current activity alone.</summary>
    public static void Stop(Activity span, Exception? error)
    {
        if (error is not null)
        {
            span.SetStatus(ActivityStatusCode.Error, error.Message);
            span.SetTag("error.type", error.GetType().FullName);
        }
        Activity? current = Activity.Current;
        span.Stop();
        Activity.Current = current;
    }

    /// <summary>For an exception filter: ends the span with the call's exception and lets it pass (false).</summary>
    public static bool StopFiltered(Activity span, Exception error)
    {
        Stop(span, error);
        return false;
    }
}
