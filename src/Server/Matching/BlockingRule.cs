namespace Cdp.Server.Matching;

/// <summary>
/// One blocking key, written <c>part+part...</c> with parts <c>attribute</c> or
/// <c>attribute.transform</c> (<see cref="BlockingTransform"/>), e.g. <c>lastName.soundex+birthDate.year</c>.
/// Two records are compared only if some rule gives both the same key; a record missing any part
/// of a rule has no key for it. Keys are 64-bit hashes: a collision only adds a candidate to score,
/// it never hides one.
/// </summary>
public sealed class BlockingRule
{
    readonly int[] attributes;
    readonly BlockingTransform[] transforms;

    BlockingRule(string text, int[] attributes, BlockingTransform[] transforms)
    {
        Text = text;
        this.attributes = attributes;
        this.transforms = transforms;
    }

    /// <summary>The rule as configured.</summary>
    public string Text { get; }

    /// <summary>Parses a rule against the configured attribute names (in ordinal order).</summary>
    /// <exception cref="FormatException">With a message naming the faulty part.</exception>
    public static BlockingRule Parse(string? text, IReadOnlyList<string> attributeNames)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new FormatException("is empty; write e.g. \"lastName.soundex+birthDate.year\".");
        var parts = text.Split('+', StringSplitOptions.TrimEntries);
        var attributes = new int[parts.Length];
        var transforms = new BlockingTransform[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            string part = parts[i];
            int dot = part.IndexOf('.');
            string name = dot < 0 ? part : part[..dot];
            string transform = dot < 0 ? "" : part[(dot + 1)..];
            int ordinal = -1;
            for (int a = 0; a < attributeNames.Count; a++)
            {
                if (attributeNames[a] == name)
                    ordinal = a;
            }
            if (ordinal < 0)
                throw new FormatException($"'{text}': '{name}' is not a configured attribute.");
            attributes[i] = ordinal;
            transforms[i] = transform switch
            {
                "" => BlockingTransform.Value,
                "soundex" => BlockingTransform.Soundex,
                "initial" => BlockingTransform.Initial,
                "year" => BlockingTransform.Year,
                _ => throw new FormatException($"'{text}': transform '{transform}' is not one of soundex, initial, year."),
            };
        }
        return new BlockingRule(text, attributes, transforms);
    }

    /// <summary>
    /// Whether the rule reads an attribute that has a swap partner, so that a record with the pair
    /// exchanged has a different key (<see cref="TryKey"/> with <c>crossed</c>).
    /// </summary>
    public bool ReadsSwappable(MatchModel model)
    {
        foreach (int a in attributes)
        {
            if (model.Attributes[a].SwapWith >= 0)
                return true;
        }
        return false;
    }

    /// <summary>The key of <paramref name="record"/> under this rule, the rule's position mixed in.</summary>
    /// <param name="crossed">
    /// Read each attribute that has a swap partner from the partner instead: the key the record would
    /// have had with, say, given name and surname entered the other way round.
    /// </param>
    /// <returns>False when the record lacks a value the rule needs.</returns>
    public bool TryKey(MatchRecord record, int ruleIndex, out ulong key, bool crossed = false)
    {
        const ulong Prime = 1099511628211;
        ulong hash = 14695981039346656037 ^ (ulong)(ruleIndex + 1) * 0x9E3779B97F4A7C15;
        Span<char> code = stackalloc char[Soundex.Length];
        for (int i = 0; i < attributes.Length; i++)
        {
            int ordinal = attributes[i];
            if (crossed && record.Model.Attributes[ordinal].SwapWith is int partner and >= 0)
                ordinal = partner;
            string? value = record[ordinal];
            if (value is null)
            {
                key = 0;
                return false;
            }
            ReadOnlySpan<char> part = transforms[i] switch
            {
                BlockingTransform.Soundex => code[..Soundex.Encode(value, code)],
                BlockingTransform.Initial => value.AsSpan(0, 1),
                BlockingTransform.Year => value.AsSpan(0, Math.Min(4, value.Length)),
                _ => value,
            };
            if (part.IsEmpty)
            {
                key = 0;
                return false;
            }
            foreach (char c in part)
                hash = (hash ^ c) * Prime;
            // A separator no value contains, so "ab"+"c" and "a"+"bc" differ.
            hash = (hash ^ 0xFFFF) * Prime;
        }
        key = hash;
        return true;
    }
}
