using System.Globalization;

namespace Cdp.LoadTests;

/// <summary>
/// Parses option values by hand (there is no System.CommandLine in this repository); every failure is a
/// <see cref="FormatException"/> whose message is fit for the console.
/// </summary>
internal static class OptionValues
{
    public static long Int(string name, string text, long min, long max)
    {
        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) || value < min || value > max)
            throw new FormatException($"{name} must be an integer from {min} to {max}, not '{text}'.");
        return value;
    }

    public static int Int(string name, string text, int min, int max) => (int)Int(name, text, min, (long)max);

    public static double Number(string name, string text, double min, double max = double.MaxValue)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || value < min || value > max || !double.IsFinite(value))
            throw new FormatException($"{name} must be a number from {min} to {max}, not '{text}'.");
        return value;
    }

    /// <summary>A comma-separated list of names, each one of <paramref name="allowed"/>, without repeats, order kept.</summary>
    public static IReadOnlyList<string> List(string name, string text, IReadOnlyCollection<string> allowed)
    {
        var items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (items.Length == 0)
            throw new FormatException($"{name} needs at least one of {string.Join(", ", allowed)}.");
        foreach (string item in items)
        {
            if (!allowed.Contains(item))
                throw new FormatException($"{name}: unknown '{item}'; expected {string.Join(", ", allowed)}.");
        }
        if (items.Distinct().Count() != items.Length)
            throw new FormatException($"{name} names an item twice: '{text}'.");
        return items;
    }
}
