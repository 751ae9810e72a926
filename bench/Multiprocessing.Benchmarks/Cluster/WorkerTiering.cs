using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Multiprocessing.Benchmarks.Cluster;

/// <summary>
/// <c>cluster tiering [--pairs N] [--tasks N]</c>: what tiered compilation off costs the code a node's
/// workers run (docs/cluster.md, "Tiered compilation off in the node process"). For each kind of
/// task, a pool of one fresh worker with <c>DOTNET_TieredCompilation=0</c> and one with the runtime's
/// default, in interleaved pairs; each runs the task N times in a row, timed inside the worker, and
/// reports the first call and the median [min – max] of the second half. Prints to the console; writes no report.
/// </summary>
internal static class WorkerTiering
{
    public const string Command = "tiering";

    private static readonly string[] Kinds = ["json", "linq", "mandelbrot", "sort"];

    public static async Task<int> RunAsync(string[] args)
    {
        int pairs = 3, tasks = 100;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--pairs" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out pairs) && pairs > 0:
                case "--tasks" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out tasks) && tasks > 1:
                    i++;
                    break;
                default:
                    Console.Error.WriteLine("usage: cluster tiering [--pairs N (3)] [--tasks N (100)]");
                    return 2;
            }
        }
        Console.WriteLine($"A fresh pool of 1 worker per kind; {tasks} tasks in a row; ms: first call, median [min-max] of the last {tasks - tasks / 2}.");
        for (int pair = 0; pair < pairs; pair++)
        {
            foreach (string? tiering in new[] { "0", null })
            {
                var environment = new Dictionary<string, string?>();
                if (tiering is not null)
                {
                    environment["DOTNET_TieredCompilation"] = tiering;
                }
                foreach (string kind in Kinds)
                {
                    // A fresh worker per kind: one kind's heap and compiled code do not time another's.
                    await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, WorkerEnvironment = environment });
                    var times = new List<double>(tasks);
                    for (int i = 0; i < tasks; i++)
                    {
                        times.Add(await pool.SubmitAsync(TieringTasks.Run, kind).ConfigureAwait(false));
                    }
                    double[] steady = [.. times.Skip(tasks / 2).Order()];
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"pair {pair + 1} {(tiering is null ? "default" : "tiering off"),-11} {kind,-10} first {times[0],7:0.0}  steady {steady[steady.Length / 2],7:0.00} [{steady[0]:0.00}-{steady[^1]:0.00}]"));
                }
            }
        }
        return 0;
    }
}

/// <summary>The tasks of <see cref="WorkerTiering"/>: each returns its own time in the worker, in ms.</summary>
internal static class TieringTasks
{
    internal sealed record Item(int Id, string Name, double[] Values);

    public static double Run(string kind)
    {
        long start = Stopwatch.GetTimestamp();
        object result = kind switch
        {
            "json" => Json(20_000),
            "linq" => Linq(200_000),
            "mandelbrot" => Mandelbrot(400),
            "sort" => Sort(400_000),
            _ => throw new ArgumentException($"No task kind '{kind}'.", nameof(kind)),
        };
        GC.KeepAlive(result);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    /// <summary>Framework code above all: System.Text.Json writes and parses 20,000 records.</summary>
    private static object Json(int count)
    {
        List<Item> items = [.. Enumerable.Range(0, count).Select(i => new Item(i, "item" + i.ToString(CultureInfo.InvariantCulture), [i, i / 2.0, i / 3.0]))];
        string text = JsonSerializer.Serialize(items);
        return JsonSerializer.Deserialize<List<Item>>(text)!;
    }

    /// <summary>Strings and LINQ: lines built, split, parsed, grouped and summed.</summary>
    private static object Linq(int count)
    {
        string[] lines = [.. Enumerable.Range(0, count).Select(i => string.Create(CultureInfo.InvariantCulture, $"{i % 97},{i * 7 % 1000},name{i % 13}"))];
        return lines.Select(l => l.Split(','))
            .GroupBy(p => p[2])
            .Select(g => (g.Key, Sum: g.Sum(p => int.Parse(p[1], CultureInfo.InvariantCulture)), Max: g.Max(p => int.Parse(p[0], CultureInfo.InvariantCulture))))
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>A numeric loop in the task's own code.</summary>
    private static object Mandelbrot(int size)
    {
        int inside = 0;
        for (int y = 0; y < size; y++)
        {
            for (int x = 0; x < size; x++)
            {
                double cr = x * 3.0 / size - 2, ci = y * 2.0 / size - 1, zr = 0, zi = 0;
                int n = 0;
                while (n < 200 && zr * zr + zi * zi < 4)
                {
                    (zr, zi) = (zr * zr - zi * zi + cr, 2 * zr * zi + ci);
                    n++;
                }
                inside += n == 200 ? 1 : 0;
            }
        }
        return inside;
    }

    /// <summary>Array.Sort with a comparison delegate.</summary>
    private static object Sort(int count)
    {
        var random = new Random(7);
        (int Key, int Name)[] items = [.. Enumerable.Range(0, count).Select(_ => (random.Next(), random.Next(1000)))];
        Array.Sort(items, (a, b) => a.Key.CompareTo(b.Key));
        return items;
    }
}
