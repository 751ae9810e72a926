using Multiprocessing.Payload;

namespace Multiprocessing.Wire;

/// <summary>
/// The part of the Init frame that says how a worker is set up before its first task: the codecs to
/// rebuild, whether to report memory, and the hooks around its tasks. The one writer of that part,
/// for a pool's workers and for a single <c>WorkerProcess</c> alike; the worker reads it back in
/// <c>CommandLoop.Initialize</c> and <c>WorkerHooks</c>, in this order.
/// </summary>
/// <param name="SerializerType">The pool's <c>IWorkerSerializer</c> type, by assembly-qualified name, or null for the built-in codec.</param>
/// <param name="JsonContextType">The pool's <c>JsonSerializerContext</c> type, by assembly-qualified name, or null.</param>
/// <param name="ReportMemory">Whether the worker reports its private memory after each unit (a memory limit is set).</param>
/// <param name="Initializer">The method the worker runs once before its first task, or null.</param>
/// <param name="InitializerArgument">The initializer's encoded argument, or null when it takes none.</param>
/// <param name="WorkerExit">The method the worker runs as it exits normally, or null.</param>
/// <param name="WorkerExitTimeout">How long the worker-exit hook may run.</param>
internal sealed record InitBody(
    string? SerializerType,
    string? JsonContextType,
    bool ReportMemory,
    TaskMethod? Initializer,
    byte[]? InitializerArgument,
    TaskMethod? WorkerExit,
    TimeSpan WorkerExitTimeout)
{
    /// <summary>No codecs of its own, no memory reports, no hooks: a single <c>WorkerProcess</c>.</summary>
    public static InitBody Plain { get; } = new(null, null, false, null, null, null, TimeSpan.Zero);

    public void Write(PayloadWriter writer)
    {
        writer.WriteString(SerializerType);
        writer.WriteString(JsonContextType);
        writer.Write(ReportMemory);
        writer.Write(Initializer is not null);
        if (Initializer is not null)
        {
            Initializer.Write(writer);
            writer.Write(InitializerArgument is not null);
            if (InitializerArgument is not null)
            {
                writer.Write(InitializerArgument.Length);
                writer.WriteBytes(InitializerArgument);
            }
        }
        writer.Write(WorkerExit is not null);
        if (WorkerExit is not null)
        {
            WorkerExit.Write(writer);
            writer.Write(WorkerExitTimeout.Ticks);
        }
    }
}
