using System.Globalization;

namespace PreforkWeb;

/// <summary>The command line of the sample.</summary>
/// <param name="Mode">Copied or shared dataset.</param>
/// <param name="Workers">How many worker processes.</param>
/// <param name="Port">The port on 127.0.0.1; 0 picks a free one.</param>
/// <param name="Items">Elements in the dataset.</param>
/// <param name="Measure">Run the measurement instead of serving.</param>
/// <param name="OutputDirectory">Where <c>--measure</c> writes its table and charts.</param>
/// <param name="Duration">Seconds of load per measured configuration.</param>
/// <param name="Repeat">How many rounds <c>--measure</c> runs (medians are reported).</param>
public sealed record Options(DatasetMode Mode, int Workers, int Port, int Items, bool Measure, string OutputDirectory, int Duration, int Repeat)
{
    /// <summary>How to call the sample.</summary>
    public const string Usage =
        "usage: PreforkWeb [--mode copied|shared] [--workers N] [--port P] [--items N]\n" +
        "       PreforkWeb --measure [--out DIR] [--duration SECONDS] [--repeat ROUNDS] [--items N]";

    /// <summary>Parses the command line.</summary>
    /// <param name="args">The arguments.</param>
    /// <returns>The options.</returns>
    /// <exception cref="ArgumentException">An unknown or malformed argument.</exception>
    public static Options Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new Options(DatasetMode.Shared, 2, 8080, 10_000_000, false, ".", 8, 1);
        for (int i = 0; i < args.Count; i++)
        {
            string Next() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            int Number(int min)
            {
                string name = args[i];
                string text = Next();
                return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= min
                    ? value
                    : throw new ArgumentException($"{name} must be an integer ≥ {min}, not '{text}'.");
            }
            options = args[i] switch
            {
                "--mode" => options with
                {
                    Mode = Next() switch
                    {
                        "copied" => DatasetMode.Copied,
                        "shared" => DatasetMode.Shared,
                        string other => throw new ArgumentException($"--mode is copied or shared, not '{other}'."),
                    },
                },
                "--workers" => options with { Workers = Number(1) },
                "--port" => options with { Port = Number(0) },
                "--items" => options with { Items = Number(100_000) },
                "--measure" => options with { Measure = true },
                "--out" => options with { OutputDirectory = Next() },
                "--duration" => options with { Duration = Number(2) },
                "--repeat" => options with { Repeat = Number(1) },
                _ => throw new ArgumentException($"Unknown argument '{args[i]}'."),
            };
        }
        return options;
    }
}
