namespace Cdp.Server.Matching;

/// <summary>
/// Optimal-string-alignment distance (Levenshtein plus adjacent transposition): the count of typing
/// errors between two identifiers, where a swapped pair of digits is one error, not two.
/// </summary>
public static class EditDistance
{
    const int StackLimit = 128;

    /// <summary>Insertions, deletions, substitutions and adjacent transpositions turning a into b.</summary>
    public static int Distance(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        if (a.Length == 0) return b.Length;
        if (b.Length == 0) return a.Length;
        int width = b.Length + 1;
        Span<int> rows = width <= StackLimit ? stackalloc int[width * 3] : new int[width * 3];
        Span<int> beforePrevious = rows[..width];
        Span<int> previous = rows.Slice(width, width);
        Span<int> current = rows.Slice(2 * width, width);
        for (int j = 0; j < width; j++)
            previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                int d = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1), previous[j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d = Math.Min(d, beforePrevious[j - 2] + 1);
                current[j] = d;
            }
            // Rotate the three rows without copying.
            Span<int> t = beforePrevious;
            beforePrevious = previous;
            previous = current;
            current = t;
        }
        return previous[b.Length];
    }

    /// <summary>1 - distance / longer length: 1 for equal, 0 for nothing in common.</summary>
    public static double Similarity(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        int longer = Math.Max(a.Length, b.Length);
        if (longer == 0)
            return 0;
        return 1 - (double)Distance(a, b) / longer;
    }
}
