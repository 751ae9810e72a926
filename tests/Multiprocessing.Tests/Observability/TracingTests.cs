using System.Collections.Concurrent;
using System.Diagnostics;

namespace Multiprocessing.Tests.Observability;

/// <summary>
/// The "Multiprocessing" activity source, and the caller's trace context carried to the workers: the
/// spans a task starts from its own source in the worker join the caller's trace.
/// </summary>
public sealed class TracingTests
{
    private static string UniqueName() => "tracing-" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task SubmitAsync_CallerActivity_WorkerSpanJoinsTheCallersTraceUnderTheSubmitSpan()
    {
        string name = UniqueName();
        using var spans = new SpanCapture(name);
        // The worker listens to the test's source only, not to the library's.
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, Name = name, Initializer = TracingTasks.ListenToTaskSource });

        WorkerTrace seen;
        using (Activity caller = TracingTasks.Source.StartActivity("caller")!)
        {
            Assert.NotNull(caller);
            seen = WorkerTrace.Parse(await pool.SubmitAsync(TracingTasks.StartSpan, 0).WaitAsync(Bounds.Unexpected));
            Assert.Same(caller, Activity.Current);

            Activity submit = await spans.WaitForAsync(ProcessPoolActivities.SubmitActivityName);
            Assert.Equal(caller.TraceId, submit.TraceId);
            Assert.Equal(caller.SpanId, submit.ParentSpanId);
            Assert.Equal(TracingTasks.MethodName(nameof(TracingTasks.StartSpan)), submit.GetTagItem(ProcessPoolActivities.MethodTag));

            Assert.Equal(caller.TraceId.ToHexString(), seen.TraceId);
            // The task's span is the child of the pool's run span, itself the child of the submit span.
            Assert.Equal(seen.RunSpanId, seen.ParentSpanId);
            Assert.Equal(submit.SpanId.ToHexString(), seen.RunParentSpanId);
            Assert.False(seen.RunRecorded);
        }
        Assert.Single(spans.Named(ProcessPoolActivities.SubmitActivityName));
    }

    [Fact]
    public async Task MapAsync_CallerActivity_EveryChunkRunsUnderTheMapSpan()
    {
        string name = UniqueName();
        using var spans = new SpanCapture(name);
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, Name = name, Initializer = TracingTasks.ListenToTaskSource });

        using Activity caller = TracingTasks.Source.StartActivity("caller")!;
        string[] results = await pool.MapAsync(TracingTasks.StartSpan, Enumerable.Range(0, 4), new MapOptions { ChunkSize = 1 }).WaitAsync(Bounds.Unexpected);

        Activity map = await spans.WaitForAsync(ProcessPoolActivities.MapActivityName);
        Assert.Equal(caller.SpanId, map.ParentSpanId);
        Assert.Equal(caller.TraceId, map.TraceId);
        Assert.Equal(4, results.Length);
        Assert.All(results.Select(WorkerTrace.Parse), seen =>
        {
            Assert.Equal(caller.TraceId.ToHexString(), seen.TraceId);
            Assert.Equal(seen.RunSpanId, seen.ParentSpanId);
            Assert.Equal(map.SpanId.ToHexString(), seen.RunParentSpanId);
        });
        Assert.Empty(spans.Named(ProcessPoolActivities.SubmitActivityName));
    }

    [Fact]
    public async Task SubmitAsync_WorkerListensToTheLibrarySource_RunSpanIsRecordedWithMethodItemsAndPid()
    {
        string name = UniqueName();
        using var spans = new SpanCapture(name);
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, Name = name, Initializer = TracingTasks.ListenToBothSources });

        using Activity caller = TracingTasks.Source.StartActivity("caller")!;
        WorkerTrace seen = WorkerTrace.Parse(await pool.SubmitAsync(TracingTasks.StartSpan, 0).WaitAsync(Bounds.Unexpected));

        Activity submit = await spans.WaitForAsync(ProcessPoolActivities.SubmitActivityName);
        Assert.Equal(caller.TraceId.ToHexString(), seen.TraceId);
        Assert.Equal(submit.SpanId.ToHexString(), seen.RunParentSpanId);
        Assert.Equal(seen.RunSpanId, seen.ParentSpanId);
        Assert.True(seen.RunRecorded);
        Assert.Equal(ProcessPoolActivities.RunActivityName, seen.RunName);
        Assert.Equal(TracingTasks.MethodName(nameof(TracingTasks.StartSpan)), seen.RunMethod);
        Assert.Equal("1", seen.RunItems);
        Assert.Equal(seen.WorkerPid, seen.RunPid);
        Assert.NotEqual(Environment.ProcessId.ToString(), seen.WorkerPid);
    }

    [Fact]
    public async Task SubmitAsync_NoCallerActivityAndNoListener_NothingIsPropagated()
    {
        Assert.Null(Activity.Current);
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, Initializer = TracingTasks.ListenToTaskSource });

        WorkerTrace seen = WorkerTrace.Parse(await pool.SubmitAsync(TracingTasks.StartSpan, 0).WaitAsync(Bounds.Unexpected));

        // No run span, and the task's own span is a root.
        Assert.Equal("", seen.RunSpanId);
        Assert.Equal(default(ActivitySpanId).ToHexString(), seen.ParentSpanId);
        Assert.NotEqual(default(ActivityTraceId).ToHexString(), seen.TraceId);
    }

    /// <summary>What the task saw in the worker, one field per '|'.</summary>
    private sealed record WorkerTrace(string TraceId, string ParentSpanId, string RunSpanId, string RunParentSpanId, bool RunRecorded, string RunName, string RunMethod, string RunItems, string RunPid, string WorkerPid)
    {
        public static WorkerTrace Parse(string text)
        {
            string[] f = text.Split('|');
            return new(f[0], f[1], f[2], f[3], f[4] == "True", f[5], f[6], f[7], f[8], f[9]);
        }
    }

    /// <summary>Stopped activities of the library's source for one pool (by its name tag), and samples the test's source.</summary>
    private sealed class SpanCapture : IDisposable
    {
        private readonly ConcurrentQueue<Activity> _stopped = new();
        private readonly ActivityListener _listener;

        public SpanCapture(string pool)
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name is ProcessPoolActivities.SourceName or TracingTasks.SourceName,
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = activity =>
                {
                    if (activity.Source.Name == ProcessPoolActivities.SourceName && (activity.GetTagItem(ProcessPoolActivities.PoolTag) as string) == pool)
                    {
                        _stopped.Enqueue(activity);
                    }
                },
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public IEnumerable<Activity> Named(string operation) => _stopped.Where(a => a.OperationName == operation);

        public async Task<Activity> WaitForAsync(string operation)
        {
            await Wait.UntilAsync(() => Named(operation).Any(), $"a stopped {operation} span");
            return Named(operation).First();
        }

        public void Dispose() => _listener.Dispose();
    }
}

/// <summary>Runs in the workers: a listener set up there, and a task that starts its own span.</summary>
internal static class TracingTasks
{
    public const string SourceName = "Multiprocessing.Tests.Tracing";

    public static readonly ActivitySource Source = new(SourceName);

    private static ActivityListener? s_listener;

    public static string MethodName(string method) => $"{typeof(TracingTasks).FullName}.{method}";

    public static void ListenToTaskSource() => Listen(source => source.Name == SourceName);

    public static void ListenToBothSources() => Listen(source => source.Name is SourceName or ProcessPoolActivities.SourceName);

    private static void Listen(Func<ActivitySource, bool> sources)
    {
        s_listener = new ActivityListener
        {
            ShouldListenTo = sources,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(s_listener);
    }

    public static string StartSpan(int _)
    {
        Activity? run = Activity.Current;
        using Activity? own = Source.StartActivity("in-worker");
        if (own is null)
        {
            return "no listener for the task's source in the worker";
        }
        return string.Join('|',
            own.TraceId.ToHexString(),
            own.ParentSpanId.ToHexString(),
            run?.SpanId.ToHexString() ?? "",
            run?.ParentSpanId.ToHexString() ?? "",
            run?.Source.Name == ProcessPoolActivities.SourceName,
            run?.OperationName ?? "",
            run?.GetTagItem(ProcessPoolActivities.MethodTag) ?? "",
            run?.GetTagItem(ProcessPoolActivities.ItemCountTag) ?? "",
            run?.GetTagItem(ProcessPoolActivities.WorkerPidTag) ?? "",
            Environment.ProcessId);
    }
}
