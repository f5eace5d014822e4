namespace Cdp.Server.Matching;

/// <summary>
/// Compares dates written as eight digits yyyyMMdd, grading the errors people make typing a birth
/// date: day and month swapped (US versus European order), one digit mistyped, two adjacent digits
/// swapped, or the right day and month with a wrong year.
/// </summary>
public static class DateSimilarity
{
    /// <summary>Day and month swapped.</summary>
    public const double Transposed = 0.9;
    /// <summary>One digit differs.</summary>
    public const double OneDigit = 0.8;
    /// <summary>Two adjacent digits swapped.</summary>
    public const double AdjacentSwap = 0.75;
    /// <summary>Day and month agree, the year does not (and is more than one typo away).</summary>
    public const double YearOff = 0.5;

    /// <summary>Similarity in 0..1. Values that are not eight digits agree only when equal.</summary>
    public static double Similarity(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        if (a.Length == 0 || b.Length == 0)
            return 0;
        if (a.SequenceEqual(b))
            return 1;
        if (a.Length != 8 || b.Length != 8)
            return 0;
        bool sameYear = a[..4].SequenceEqual(b[..4]);
        if (sameYear && a.Slice(4, 2).SequenceEqual(b.Slice(6, 2)) && a.Slice(6, 2).SequenceEqual(b.Slice(4, 2)))
            return Transposed;
        int first = -1, differing = 0;
        for (int i = 0; i < 8; i++)
        {
            if (a[i] == b[i])
                continue;
            if (differing++ == 0)
                first = i;
        }
        if (differing == 1)
            return OneDigit;
        if (differing == 2 && first < 7 && a[first] == b[first + 1] && a[first + 1] == b[first])
            return AdjacentSwap;
        if (a[4..].SequenceEqual(b[4..]))
            return YearOff;
        return 0;
    }
}
