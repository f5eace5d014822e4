namespace Cdp.Server.Matching;

/// <summary>
/// Comparators for short codes and numbers (postcodes, street numbers, phone numbers), where a near
/// miss is a typo in one position rather than a similar-sounding value, so Jaro-Winkler would
/// overrate "3012" against "3021" no more than against "4012".
/// </summary>
public static class DigitSimilarity
{
    /// <summary>One character differs in values of equal length.</summary>
    public const double OneSubstitution = 0.8;
    /// <summary>Two adjacent characters swapped.</summary>
    public const double AdjacentSwap = 0.7;

    /// <summary>Postcodes: exact, one substitution, or one adjacent swap.</summary>
    public static double Postcode(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        if (a.Length == 0 || b.Length == 0)
            return 0;
        if (a.SequenceEqual(b))
            return 1;
        return NearMiss(a, b);
    }

    /// <summary>Numbers: equal ignoring leading zeros, else a one-position near miss.</summary>
    public static double Number(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        a = a.TrimStart('0');
        b = b.TrimStart('0');
        // "0" and "00" trim to nothing and are still equal numbers.
        if (a.SequenceEqual(b))
            return 1;
        if (a.Length == 0 || b.Length == 0)
            return 0;
        return NearMiss(a, b);
    }

    /// <summary>
    /// Phone numbers as digits: a number that ends with the other's last eight digits agrees (the
    /// same line written with and without a country or trunk prefix); otherwise graded by edit distance.
    /// </summary>
    public static double Phone(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        if (a.Length == 0 || b.Length == 0)
            return 0;
        if (a.SequenceEqual(b))
            return 1;
        const int Subscriber = 8;
        if (a.Length >= Subscriber && b.Length >= Subscriber && a[^Subscriber..].SequenceEqual(b[^Subscriber..]))
            return 0.95;
        int tail = Math.Min(Math.Min(a.Length, b.Length), Subscriber);
        return NearMiss(a[^tail..], b[^tail..]);
    }

    static double NearMiss(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        if (a.Length != b.Length)
            return 0;
        int first = -1, differing = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] == b[i])
                continue;
            if (differing++ == 0)
                first = i;
            if (differing > 2)
                return 0;
        }
        if (differing == 1)
            return OneSubstitution;
        if (differing == 2 && first + 1 < a.Length && a[first] == b[first + 1] && a[first + 1] == b[first])
            return AdjacentSwap;
        return 0;
    }
}
