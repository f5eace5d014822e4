using System.Globalization;

namespace Cdp.Server.Computed;

/// <summary>Durations as written in configuration: a whole number and a unit, e.g. <c>30d</c>, <c>24h</c>, <c>15m</c>, <c>90s</c>, <c>2w</c>.</summary>
public static class DurationText
{
    /// <summary>Parses <paramref name="text"/> to milliseconds; false when it is not a positive whole duration.</summary>
    public static bool TryParse(string? text, out long milliseconds)
    {
        milliseconds = 0;
        if (string.IsNullOrWhiteSpace(text))
            return false;
        text = text.Trim();
        int split = 0;
        while (split < text.Length && char.IsAsciiDigit(text[split]))
            split++;
        if (split == 0 || split > 9 || !long.TryParse(text.AsSpan(0, split), NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n <= 0)
            return false;
        long unit = text[split..] switch
        {
            "s" => 1000L,
            "m" => 60_000L,
            "h" => 3_600_000L,
            "d" => 86_400_000L,
            "w" => 7 * 86_400_000L,
            _ => 0,
        };
        milliseconds = n * unit;
        return unit != 0;
    }

    /// <summary>Formats milliseconds in the largest unit that divides them.</summary>
    public static string Format(long milliseconds)
    {
        foreach (var (unit, suffix) in new[] { (86_400_000L, "d"), (3_600_000L, "h"), (60_000L, "m") })
            if (milliseconds % unit == 0)
                return (milliseconds / unit).ToString(CultureInfo.InvariantCulture) + suffix;
        return (milliseconds / 1000).ToString(CultureInfo.InvariantCulture) + "s";
    }
}
