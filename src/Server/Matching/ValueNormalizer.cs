using System.Buffers;

namespace Cdp.Server.Matching;

/// <summary>
/// Puts a raw trait value in the form its comparator expects, so that differences of case, spacing
/// and punctuation that carry no identity are not counted as disagreements.
/// </summary>
public static class ValueNormalizer
{
    /// <summary>The normalised value, or null when nothing is left (a missing value).</summary>
    public static string? Normalize(AttributeKind kind, string? raw)
    {
        if (string.IsNullOrWhiteSpace(raw))
            return null;
        return kind switch
        {
            // "1975-08-18" and "19750818" are the same date.
            AttributeKind.Date => DigitsOrText(raw),
            // "+61 2 9876 5432" and "02 9876-5432" differ only in prefix; the comparator handles that.
            AttributeKind.Phone => Keep(raw, char.IsAsciiDigit),
            // Spaces and dashes in "123-45 678" are layout, not part of the identifier.
            AttributeKind.Id or AttributeKind.Postcode => Keep(raw, char.IsLetterOrDigit),
            _ => Text(raw),
        };
    }

    /// <summary>Lower-case, trimmed, runs of white space collapsed to one space.</summary>
    public static string? Text(string raw)
    {
        char[]? rented = null;
        Span<char> buffer = raw.Length <= 256 ? stackalloc char[raw.Length] : (rented = ArrayPool<char>.Shared.Rent(raw.Length));
        int n = 0;
        bool space = false;
        foreach (char c in raw)
        {
            if (char.IsWhiteSpace(c))
            {
                space = n > 0;
                continue;
            }
            if (space)
            {
                buffer[n++] = ' ';
                space = false;
            }
            buffer[n++] = char.ToLowerInvariant(c);
        }
        string? result = n == 0 ? null : raw.Length == n && buffer[..n].SequenceEqual(raw) ? raw : new string(buffer[..n]);
        if (rented is not null)
            ArrayPool<char>.Shared.Return(rented);
        return result;
    }

    static string? DigitsOrText(string raw)
    {
        string? digits = Keep(raw, char.IsAsciiDigit);
        return digits is { Length: 8 } ? digits : Text(raw);
    }

    static string? Keep(string raw, Func<char, bool> keep)
    {
        char[]? rented = null;
        Span<char> buffer = raw.Length <= 256 ? stackalloc char[raw.Length] : (rented = ArrayPool<char>.Shared.Rent(raw.Length));
        int n = 0;
        foreach (char c in raw)
        {
            if (keep(c))
                buffer[n++] = char.ToLowerInvariant(c);
        }
        string? result = n == 0 ? null : new string(buffer[..n]);
        if (rented is not null)
            ArrayPool<char>.Shared.Return(rented);
        return result;
    }
}
