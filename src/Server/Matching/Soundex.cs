namespace Cdp.Server.Matching;

/// <summary>
/// American Soundex (as used by the US census): the first letter and three digits for the consonant
/// groups that follow. Letters that sound alike share a code, so "robert" and "rupert" block together.
/// </summary>
public static class Soundex
{
    /// <summary>Length of a code.</summary>
    public const int Length = 4;

    // Codes for a..z; '0' = vowel (separates equal codes), '-' = h/w (does not separate).
    const string Codes = "0123012-02245501262301-202";

    /// <summary>Writes the code of <paramref name="value"/> into <paramref name="code"/> (at least 4 chars).</summary>
    /// <returns>4, or 0 when the value has no Latin letter.</returns>
    public static int Encode(ReadOnlySpan<char> value, Span<char> code)
    {
        int i = 0;
        while (i < value.Length && !IsLetter(value[i]))
            i++;
        if (i == value.Length)
            return 0;
        char first = char.ToLowerInvariant(value[i]);
        code[0] = char.ToUpperInvariant(first);
        char previous = Codes[first - 'a'];
        int length = 1;
        for (i++; i < value.Length && length < Length; i++)
        {
            if (!IsLetter(value[i]))
                continue;
            char c = Codes[char.ToLowerInvariant(value[i]) - 'a'];
            if (c == '-')
                continue;
            if (c != '0' && c != previous)
                code[length++] = c;
            previous = c;
        }
        while (length < Length)
            code[length++] = '0';
        return Length;
    }

    /// <summary>The code as a string, or "" when the value has no Latin letter.</summary>
    public static string Encode(string value)
    {
        Span<char> code = stackalloc char[Length];
        int n = Encode(value.AsSpan(), code);
        return new string(code[..n]);
    }

    static bool IsLetter(char c) => c is >= 'a' and <= 'z' or >= 'A' and <= 'Z';
}
