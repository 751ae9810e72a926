using System.CommandLine.Parsing;
using System.Globalization;

namespace Multiprocessing.Cli.Commands;

/// <summary>
/// Parsers for option values that System.CommandLine does not know: counts with digit separators
/// and suffixes (<c>2_000_000</c>, <c>2M</c>, <c>500k</c>) and comma-separated lists
/// (<c>--workers 1,2,4</c>). Each reports a bad value as one parse error that names the option,
/// the value and what would be accepted.
/// </summary>
public static class ArgumentParsers
{
    /// <summary>Parses one count between <paramref name="min"/> and <paramref name="max"/>.</summary>
    /// <param name="result">The option's tokens; errors are added here.</param>
    /// <param name="min">Smallest accepted value.</param>
    /// <param name="max">Largest accepted value.</param>
    /// <returns>The value, or 0 after adding an error.</returns>
    public static int ParseCount(ArgumentResult result, int min, int max)
    {
        ArgumentNullException.ThrowIfNull(result);
        string option = OptionName(result);
        if (result.Tokens.Count != 1)
        {
            result.AddError($"{option} takes one value.");
            return 0;
        }
        string text = result.Tokens[0].Value;
        if (!TryParseCount(text, out long value) || value < min || value > max)
        {
            result.AddError($"{option}: '{text}' is not a whole number from {min:N0} to {max:N0} (digits, optionally with _ separators or a k/M suffix).");
            return 0;
        }
        return (int)value;
    }

    /// <summary>Parses one or more comma-separated counts, each between <paramref name="min"/> and <paramref name="max"/>; repeats and duplicates are merged in order of first appearance.</summary>
    /// <param name="result">The option's tokens (the option may be given more than once); errors are added here.</param>
    /// <param name="min">Smallest accepted value.</param>
    /// <param name="max">Largest accepted value.</param>
    /// <returns>The distinct values, or an empty list after adding an error.</returns>
    public static IReadOnlyList<int> ParseCountList(ArgumentResult result, int min, int max)
    {
        ArgumentNullException.ThrowIfNull(result);
        string option = OptionName(result);
        var values = new List<int>();
        foreach (Token token in result.Tokens)
        {
            foreach (string part in token.Value.Split(',', StringSplitOptions.TrimEntries))
            {
                if (!TryParseCount(part, out long value) || value < min || value > max)
                {
                    string shown = part.Length == 0 ? "an empty entry" : $"'{part}'";
                    result.AddError($"{option}: {shown} is not a whole number from {min:N0} to {max:N0}; give a comma-separated list such as {option} 1,2,4.");
                    return [];
                }
                if (!values.Contains((int)value))
                {
                    values.Add((int)value);
                }
            }
        }
        if (values.Count == 0)
        {
            result.AddError($"{option} needs at least one value, such as {option} 1,2,4.");
        }
        return values;
    }

    /// <summary>Parses <c>123</c>, <c>1_000</c>, <c>500k</c> (×1,000) or <c>2M</c> (×1,000,000).</summary>
    /// <param name="text">The text.</param>
    /// <param name="value">The value.</param>
    /// <returns>Whether <paramref name="text"/> is such a number (not negative, no overflow).</returns>
    public static bool TryParseCount(string text, out long value)
    {
        ArgumentNullException.ThrowIfNull(text);
        value = 0;
        string digits = text.Replace("_", "", StringComparison.Ordinal);
        long scale = 1;
        if (digits.EndsWith('k') || digits.EndsWith('K'))
        {
            scale = 1_000;
        }
        else if (digits.EndsWith('M'))
        {
            scale = 1_000_000;
        }
        if (scale != 1)
        {
            digits = digits[..^1];
        }
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit)
            || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long number)
            || number > long.MaxValue / scale)
        {
            return false;
        }
        value = number * scale;
        return true;
    }

    private static string OptionName(ArgumentResult result) =>
        result.Parent is OptionResult { Option: { } option } ? option.Name : result.Argument.Name;
}
