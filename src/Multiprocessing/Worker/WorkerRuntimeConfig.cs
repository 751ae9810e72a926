using System.Text;

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
                // Bytes, not text: this runs just before a fresh pool's first launch, and the
                // reader, writer and decoder of the text APIs cost that launch milliseconds.
                byte[]? quiet = Derive(File.ReadAllBytes(source));
                if (quiet is null)
                {
                    return source;
                }
                string path = Path.Combine(directory, FileName);
                File.WriteAllBytes(path, quiet);
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
    /// <paramref name="json"/> (UTF-8) with the switch added to <c>runtimeOptions.configProperties</c>,
    /// or null when the application sets the switch itself or the text is not in the shape the SDK writes.
    /// </summary>
    /// <remarks>
    /// A plain byte scan rather than a JSON parser or the framework's vectorised searches: the file
    /// is a few hundred bytes, and this code is precompiled where those would be compiled on first use.
    /// </remarks>
    public static byte[]? Derive(ReadOnlySpan<byte> json)
    {
        if (Find(json, "\"System.Diagnostics.Tracing.EventSource.IsSupported\""u8, 0) >= 0)
        {
            return null;
        }
        ReadOnlySpan<byte> entry = "\"System.Diagnostics.Tracing.EventSource.IsSupported\": false"u8;
        int properties = Find(json, "\"configProperties\""u8, 0);
        if (properties >= 0)
        {
            return InsertFirst(json, properties, [], entry, []);
        }
        int options = Find(json, "\"runtimeOptions\""u8, 0);
        return options < 0 ? null : InsertFirst(json, options, "\"configProperties\": { "u8, entry, " }"u8);
    }

    /// <summary>The text form of <see cref="Derive(ReadOnlySpan{byte})"/>.</summary>
    public static string? Derive(string json) =>
        Derive(Encoding.UTF8.GetBytes(json)) is { } derived ? Encoding.UTF8.GetString(derived) : null;

    /// <summary>Inserts <paramref name="before"/>, <paramref name="member"/>, <paramref name="after"/> as the first member of the object that is the value of the key at <paramref name="key"/>.</summary>
    private static byte[]? InsertFirst(ReadOnlySpan<byte> json, int key, ReadOnlySpan<byte> before, ReadOnlySpan<byte> member, ReadOnlySpan<byte> after)
    {
        int colon = Find(json, ":"u8, key);
        if (colon < 0)
        {
            return null;
        }
        int brace = SkipWhiteSpace(json, colon + 1);
        if (brace >= json.Length || json[brace] != (byte)'{')
        {
            return null;
        }
        int next = SkipWhiteSpace(json, brace + 1);
        if (next >= json.Length)
        {
            return null;
        }
        ReadOnlySpan<byte> separator = json[next] == (byte)'}' ? " "u8 : ","u8;
        var result = new byte[json.Length + 1 + before.Length + member.Length + after.Length + separator.Length];
        var output = new Span<byte>(result);
        int at = 0;
        Append(output, ref at, json[..(brace + 1)]);
        Append(output, ref at, " "u8);
        Append(output, ref at, before);
        Append(output, ref at, member);
        Append(output, ref at, after);
        Append(output, ref at, separator);
        Append(output, ref at, json[(brace + 1)..]);
        return result;
    }

    private static void Append(Span<byte> output, ref int at, ReadOnlySpan<byte> piece)
    {
        piece.CopyTo(output[at..]);
        at += piece.Length;
    }

    private static int SkipWhiteSpace(ReadOnlySpan<byte> json, int at)
    {
        while (at < json.Length && json[at] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            at++;
        }
        return at;
    }

    private static int Find(ReadOnlySpan<byte> json, ReadOnlySpan<byte> what, int from)
    {
        for (int i = from; i <= json.Length - what.Length; i++)
        {
            int j = 0;
            while (j < what.Length && json[i + j] == what[j])
            {
                j++;
            }
            if (j == what.Length)
            {
                return i;
            }
        }
        return -1;
    }
}
