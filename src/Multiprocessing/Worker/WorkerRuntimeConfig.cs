namespace Multiprocessing.Worker;

/// <summary>
/// The runtime config a worker starts with when its diagnostic channel is off: the application's
/// own, plus <c>System.Diagnostics.Tracing.EventSource.IsSupported = false</c>.
/// </summary>
/// <remarks>
/// Without the diagnostic channel nothing outside the worker can listen to its event sources, yet
/// the runtime would still build them: its own at start-up, and the framework's DiagnosticSource
/// and metrics event sources the first time the worker touches an <c>ActivitySource</c> or a
/// <c>Meter</c>. That is tens of milliseconds of CPU in every fresh worker (33 ms against 2 ms for a
/// first <c>ActivitySource</c> in a small program here), paid while the pool waits for its first
/// result and, on a machine with fewer cores than processes, taken from the other workers' start.
/// ActivitySource, Activity and Meter keep working (they do not need event sources); an
/// <c>EventListener</c> in user code inside a worker receives nothing, which is why
/// <see cref="ProcessPoolOptions.EnableWorkerDiagnostics"/> keeps the application's file untouched.
/// An application that sets the switch itself, or whose file is not in the shape the SDK writes,
/// also keeps its file.
/// </remarks>
internal static class WorkerRuntimeConfig
{
    public const string EventSourceSwitch = "System.Diagnostics.Tracing.EventSource.IsSupported";

    private const string FileName = "worker.runtimeconfig.json";
    private static readonly Lock s_gate = new();
    private static (string Source, string Directory, string Path)? s_written;

    /// <summary>
    /// The path of the quiet runtime config for <paramref name="source"/>, written in
    /// <paramref name="directory"/> (the listener's private directory, which lives while any worker
    /// starts: the host reads this file before the worker connects), or <paramref name="source"/>
    /// itself when it cannot be derived.
    /// </summary>
    public static string WithoutEventSources(string source, string directory)
    {
        lock (s_gate)
        {
            if (s_written is { } written && written.Source == source && written.Directory == directory && File.Exists(written.Path))
            {
                return written.Path;
            }
            try
            {
                string? quiet = Derive(File.ReadAllText(source));
                if (quiet is null)
                {
                    return source;
                }
                string path = Path.Combine(directory, FileName);
                File.WriteAllText(path, quiet);
                // The host looks for development settings (extra probing paths) beside the config it is given.
                string sourceDev = Path.ChangeExtension(source, ".dev.json");
                if (File.Exists(sourceDev))
                {
                    File.Copy(sourceDev, Path.ChangeExtension(path, ".dev.json"), overwrite: true);
                }
                s_written = (source, directory, path);
                return path;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A faster start is not worth a failed one: the application's own file still works.
                return source;
            }
        }
    }

    /// <summary>
    /// <paramref name="json"/> with the switch added to <c>runtimeOptions.configProperties</c>, or null
    /// when the application sets the switch itself or the text is not in the shape the SDK writes.
    /// </summary>
    public static string? Derive(string json)
    {
        if (json.Contains(EventSourceSwitch, StringComparison.Ordinal))
        {
            return null;
        }
        const string Entry = $"\"{EventSourceSwitch}\": false";
        int properties = json.IndexOf("\"configProperties\"", StringComparison.Ordinal);
        if (properties >= 0)
        {
            return InsertFirst(json, properties, Entry);
        }
        int options = json.IndexOf("\"runtimeOptions\"", StringComparison.Ordinal);
        return options < 0 ? null : InsertFirst(json, options, $"\"configProperties\": {{ {Entry} }}");
    }

    /// <summary>Inserts <paramref name="member"/> as the first member of the object that follows the key at <paramref name="key"/>.</summary>
    private static string? InsertFirst(string json, int key, string member)
    {
        int colon = json.IndexOf(':', key);
        if (colon < 0)
        {
            return null;
        }
        int brace = colon + 1;
        while (brace < json.Length && char.IsWhiteSpace(json[brace]))
        {
            brace++;
        }
        if (brace >= json.Length || json[brace] != '{')
        {
            return null;
        }
        int next = brace + 1;
        while (next < json.Length && char.IsWhiteSpace(json[next]))
        {
            next++;
        }
        if (next >= json.Length)
        {
            return null;
        }
        bool empty = json[next] == '}';
        return json[..(brace + 1)] + " " + member + (empty ? " " : ",") + json[(brace + 1)..];
    }
}
