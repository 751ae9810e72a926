namespace Multiprocessing.WorkerRuntime;

/// <summary>
/// First-use costs that a fresh worker would otherwise pay between receiving its first task and
/// running it, paid instead on a thread of their own while the worker waits for its parent's Init,
/// Register and Run frames. Nothing here changes what the worker does: the same objects are
/// created and the same code is compiled, only sooner and beside the main path.
/// </summary>
internal static class WorkerWarmUp
{
    public static void Start() => new Thread(Run) { IsBackground = true, Name = "mp warm-up" }.Start();

    private static void Run()
    {
        // Every unit checks the library's ActivitySource for listeners; creating that source
        // creates the framework's DiagnosticSource event source, milliseconds of reflection and
        // registration: the largest single cost between a worker's first Run frame and its task.
        _ = LibraryTracing.Source.HasListeners();
        // Resolving a task parses assembly-qualified generic type names (the delegate's type);
        // the parser's vectorised searches and the public key token's hex decoding are
        // JIT-compiled on first use.
        _ = Type.GetType(typeof(Func<int, int>).AssemblyQualifiedName!, throwOnError: false);
    }
}
