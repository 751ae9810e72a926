using System.Text.RegularExpressions;

namespace Multiprocessing.Tests.Architecture;

/// <summary>
/// The executable half of docs/ARCHITECTURE.md: which folder of the library may use which. Public
/// types all live in the namespace <c>Multiprocessing</c>, so the folders cannot be told apart in
/// the compiled assembly; this reads the source instead. Each folder's declared type names are
/// collected, and a file that names a type declared in another folder depends on that folder.
/// Comments and string literals are left out; a member access (<c>x.Name</c>) is not a type use.
/// </summary>
public sealed partial class ArchitectureTests
{
    /// <summary>Who may use whom. Keep in step with docs/ARCHITECTURE.md.</summary>
    internal static readonly IReadOnlyDictionary<string, string[]> Allowed = new Dictionary<string, string[]>
    {
        ["Interop"] = [],
        ["Payload"] = [],
        ["Diagnostics"] = ["Interop"],
        ["SharedMemory"] = ["Interop", "Payload"],
        ["Serialization"] = ["Payload", "SharedMemory"],
        ["Synchronization"] = ["Interop", "Payload", "SharedMemory", "Serialization"],
        ["Channels"] = ["Interop", "Payload", "SharedMemory", "Serialization", "Synchronization"],
        ["Wire"] = ["Interop", "Payload", "Diagnostics", "SharedMemory", "Serialization"],
        ["Worker"] = ["Interop", "Payload", "Diagnostics", "SharedMemory", "Serialization", "Wire"],
        ["WorkerRuntime"] = ["Interop", "Payload", "Diagnostics", "SharedMemory", "Serialization", "Wire"],
        ["Scheduling"] = ["Payload", "Wire"],
        ["Pool"] = ["Interop", "Payload", "Diagnostics", "SharedMemory", "Serialization", "Wire", "Worker", "Scheduling"],
    };

    [Fact]
    public void Folders_UseOnlyTheFoldersTheArchitectureAllows()
    {
        LibrarySource source = LibrarySource.Load();
        Assert.Equal(Allowed.Keys.Order(), source.Folders.Order());
        var violations = new List<string>();
        foreach ((string from, string to, string type, string file) in source.Dependencies())
        {
            if (!Allowed[from].Contains(to))
            {
                violations.Add($"{file} ({from}) uses {type} ({to})");
            }
        }
        Assert.True(violations.Count == 0,
            "Folder dependencies that docs/ARCHITECTURE.md does not allow:\n" + string.Join('\n', violations.Distinct().Order()));
    }

    [Fact]
    public void AllowedTable_HasNoCycle()
    {
        var state = new Dictionary<string, int>();
        foreach (string folder in Allowed.Keys)
        {
            Visit(folder, []);
        }

        void Visit(string folder, List<string> path)
        {
            if (state.GetValueOrDefault(folder) == 2)
            {
                return;
            }
            Assert.False(state.GetValueOrDefault(folder) == 1, "cycle: " + string.Join(" -> ", path.Append(folder)));
            state[folder] = 1;
            foreach (string next in Allowed[folder])
            {
                Visit(next, [.. path, folder]);
            }
            state[folder] = 2;
        }
    }

    [Fact]
    public void Check_CatchesAForbiddenUse()
    {
        // The check itself must be able to fail: a file in Interop that names a Pool type.
        LibrarySource source = LibrarySource.Load();
        string poolType = source.TypesOf("Pool").First();
        var planted = source.With("Interop", "Planted.cs", $"internal static class Planted {{ static object? x = typeof({poolType}); }}");
        Assert.Contains(planted.Dependencies(), d => d.From == "Interop" && d.To == "Pool" && d.Type == poolType);
        // Written with its namespace instead of through a using directive, it is the same use.
        var qualified = source.With("Interop", "Planted.cs", $"internal static class Planted {{ static object? x = typeof(Multiprocessing.Pool.{poolType}); }}");
        Assert.Contains(qualified.Dependencies(), d => d.From == "Interop" && d.To == "Pool" && d.Type == poolType);
    }

    /// <summary>The library's source, read from the repository.</summary>
    internal sealed partial class LibrarySource(Dictionary<string, Dictionary<string, string>> files)
    {
        public IEnumerable<string> Folders => files.Keys;

        public static LibrarySource Load()
        {
            string root = FindLibrary();
            var files = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
            foreach (string directory in Directory.EnumerateDirectories(root).Where(d => Path.GetFileName(d) is not ("bin" or "obj")))
            {
                files[Path.GetFileName(directory)] = Directory.EnumerateFiles(directory, "*.cs", SearchOption.AllDirectories)
                    .ToDictionary(f => Path.GetRelativePath(root, f), f => Strip(File.ReadAllText(f)));
            }
            return new LibrarySource(files);
        }

        public LibrarySource With(string folder, string name, string text)
        {
            var copy = files.ToDictionary(f => f.Key, f => new Dictionary<string, string>(f.Value));
            copy[folder][Path.Combine(folder, name)] = Strip(text);
            return new LibrarySource(copy);
        }

        public IEnumerable<string> TypesOf(string folder) =>
            files[folder].Values.SelectMany(text => Declaration().Matches(text).Select(m => m.Groups[1].Value)).Distinct().Order();

        public IEnumerable<(string From, string To, string Type, string File)> Dependencies()
        {
            var owner = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string folder in files.Keys)
            {
                foreach (string type in TypesOf(folder))
                {
                    Assert.False(owner.TryGetValue(type, out string? other) && other != folder,
                        $"The type name {type} is declared in both {other} and {folder}; the architecture check needs unique names.");
                    owner[type] = folder;
                }
            }
            // A name written with its namespace (Multiprocessing.Worker.WorkerLauncher) uses the same
            // type as one brought in by a using directive: the namespace's segments are skipped.
            var namespaces = files.Values.SelectMany(texts => texts.Values)
                .SelectMany(text => Namespace().Matches(text).SelectMany(m => m.Groups[1].Value.Split('.')))
                .ToHashSet(StringComparer.Ordinal);
            foreach ((string folder, Dictionary<string, string> texts) in files)
            {
                foreach ((string file, string text) in texts)
                {
                    foreach (Match use in Use().Matches(text))
                    {
                        string? type = use.Groups[1].Value.Split('.').FirstOrDefault(segment => !namespaces.Contains(segment));
                        if (type is not null && owner.TryGetValue(type, out string? to) && to != folder)
                        {
                            yield return (folder, to, type, file);
                        }
                    }
                }
            }
        }

        private static string FindLibrary()
        {
            for (string? directory = AppContext.BaseDirectory; directory is not null; directory = Path.GetDirectoryName(directory))
            {
                string candidate = Path.Combine(directory, "src", "Multiprocessing");
                if (File.Exists(Path.Combine(candidate, "Multiprocessing.csproj")))
                {
                    return candidate;
                }
            }
            throw new DirectoryNotFoundException("src/Multiprocessing was not found above the test's output folder.");
        }

        /// <summary>Removes comments (XML docs included) and the contents of string and character literals.</summary>
        private static string Strip(string text) => Noise().Replace(text, m => m.Value.StartsWith('/') ? " " : "\"\"");

        [GeneratedRegex(@"//[^\n]*|/\*.*?\*/|@""(?:[^""]|"""")*""|""(?:[^""\\\n]|\\.)*""|'(?:[^'\\\n]|\\.)+'", RegexOptions.Singleline)]
        private static partial Regex Noise();

        [GeneratedRegex(@"\b(?:class|struct|interface|enum|record)\s+([A-Z]\w*)")]
        private static partial Regex Declaration();

        // A capitalised name not reached through a member access, with the capitalised names after it
        // that are reached through one (a namespace-qualified type, or a type's members).
        [GeneratedRegex(@"(?<![\w.])([A-Z]\w*(?:\.[A-Z]\w*)*)")]
        private static partial Regex Use();

        [GeneratedRegex(@"\bnamespace\s+([\w.]+)")]
        private static partial Regex Namespace();
    }
}
