namespace Cdp.Server.Matching;

/// <summary>
/// Jaro-Winkler similarity (Winkler 1990): the Jaro measure of matching characters and transpositions,
/// raised for a common prefix of up to four characters, because typists rarely get the start of a
/// name wrong.
/// </summary>
public static class JaroWinkler
{
    /// <summary>Largest input compared with stack-allocated match flags.</summary>
    const int StackLimit = 128;

    /// <summary>Similarity in 0..1; 1 for equal strings, 0 when either is empty.</summary>
    /// <param name="prefixScale">Winkler's p; above 0.25 the result could exceed 1.</param>
    /// <param name="boostThreshold">Winkler applies the prefix boost only to pairs already this similar.</param>
    public static double Similarity(ReadOnlySpan<char> a, ReadOnlySpan<char> b, double prefixScale = 0.1, double boostThreshold = 0.7)
    {
        double jaro = Jaro(a, b);
        if (jaro <= boostThreshold)
            return jaro;
        int prefix = 0;
        int limit = Math.Min(4, Math.Min(a.Length, b.Length));
        while (prefix < limit && a[prefix] == b[prefix])
            prefix++;
        return jaro + prefix * prefixScale * (1 - jaro);
    }

    /// <summary>The Jaro similarity without the prefix boost.</summary>
    public static double Jaro(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        if (a.Length == 0 || b.Length == 0)
            return 0;
        if (a.SequenceEqual(b))
            return 1;
        int window = Math.Max(0, Math.Max(a.Length, b.Length) / 2 - 1);
        Span<bool> matchedA = a.Length <= StackLimit ? stackalloc bool[a.Length] : new bool[a.Length];
        Span<bool> matchedB = b.Length <= StackLimit ? stackalloc bool[b.Length] : new bool[b.Length];
        // stackalloc memory is not guaranteed zeroed when the method opts out of locals init.
        matchedA.Clear();
        matchedB.Clear();

        int matches = 0;
        for (int i = 0; i < a.Length; i++)
        {
            int from = Math.Max(0, i - window);
            int to = Math.Min(b.Length - 1, i + window);
            for (int j = from; j <= to; j++)
            {
                if (matchedB[j] || a[i] != b[j])
                    continue;
                matchedA[i] = true;
                matchedB[j] = true;
                matches++;
                break;
            }
        }
        if (matches == 0)
            return 0;

        // Matched characters of a and b, read in order, that differ are half-transpositions.
        int halfTranspositions = 0;
        int k = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (!matchedA[i])
                continue;
            while (!matchedB[k])
                k++;
            if (a[i] != b[k])
                halfTranspositions++;
            k++;
        }
        double m = matches;
        return (m / a.Length + m / b.Length + (m - halfTranspositions / 2) / m) / 3;
    }
}
