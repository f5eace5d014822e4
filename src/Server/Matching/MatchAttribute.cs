namespace Cdp.Server.Matching;

/// <summary>
/// One compared attribute with its resolved comparator and Fellegi-Sunter weights. The weight of a
/// comparison is <see cref="Agree"/> for identical values, <see cref="Disagree"/> below
/// <see cref="PartialFrom"/>, and in between it rises linearly from <see cref="Partial"/> to
/// <see cref="Agree"/> with the similarity, so a one-letter typo keeps most of the evidence of an agreement.
/// </summary>
public sealed class MatchAttribute
{
    /// <summary>Weights used when the configuration leaves them unset.</summary>
    public readonly record struct Weights(double Agree, double Partial, double Disagree, double PartialFrom);

    internal MatchAttribute(int ordinal, string name, string trait, AttributeKind kind, Weights weights)
    {
        Ordinal = ordinal;
        Name = name;
        Trait = trait;
        Kind = kind;
        Agree = weights.Agree;
        Partial = weights.Partial;
        Disagree = weights.Disagree;
        PartialFrom = weights.PartialFrom;
    }

    /// <summary>Position in <see cref="MatchModel.Attributes"/> and in a record's values.</summary>
    public int Ordinal { get; }
    /// <summary>Configured name, used in evidence and blocking keys.</summary>
    public string Name { get; }
    /// <summary>The trait the value is read from.</summary>
    public string Trait { get; }
    /// <summary>Comparator and normalisation.</summary>
    public AttributeKind Kind { get; }
    /// <summary>Weight of an exact agreement.</summary>
    public double Agree { get; }
    /// <summary>Weight at similarity <see cref="PartialFrom"/>.</summary>
    public double Partial { get; }
    /// <summary>Weight of a disagreement.</summary>
    public double Disagree { get; }
    /// <summary>Lowest similarity counted as partial agreement.</summary>
    public double PartialFrom { get; }
    /// <summary>Ordinal of the attribute whose value may be entered in this one's place, or -1.</summary>
    public int SwapWith { get; internal set; } = -1;

    /// <summary>
    /// Defaults per kind, as log2 of the agreement odds among matches against non-matches for a
    /// population of a few million people: a birth date or an identifier agreeing by chance is rarer
    /// than a first name agreeing, and a missing value is no evidence either way (weight 0).
    /// </summary>
    public static Weights DefaultWeights(AttributeKind kind) => kind switch
    {
        AttributeKind.Name => new(7, 2, -3, 0.85),
        AttributeKind.Text => new(7, 2, -2, 0.85),
        AttributeKind.Date => new(10, 3, -4, 0.5),
        AttributeKind.Postcode => new(6, 1, -2, 0.7),
        AttributeKind.Phone => new(12, 4, -3, 0.7),
        AttributeKind.Number => new(5, 1, -2, 0.7),
        AttributeKind.Id => new(14, 5, -4, 0.8),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Reads a configured kind name (case-insensitive; "exact" is accepted for id).</summary>
    public static bool TryParseKind(string text, out AttributeKind kind)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "name": kind = AttributeKind.Name; return true;
            case "text": kind = AttributeKind.Text; return true;
            case "date": kind = AttributeKind.Date; return true;
            case "postcode": kind = AttributeKind.Postcode; return true;
            case "phone": kind = AttributeKind.Phone; return true;
            case "number": kind = AttributeKind.Number; return true;
            case "id" or "exact": kind = AttributeKind.Id; return true;
            default: kind = default; return false;
        }
    }

    /// <summary>Similarity of two normalised, non-empty values in 0..1.</summary>
    public double Similarity(ReadOnlySpan<char> a, ReadOnlySpan<char> b) => Kind switch
    {
        AttributeKind.Name or AttributeKind.Text => JaroWinkler.Similarity(a, b),
        AttributeKind.Date => DateSimilarity.Similarity(a, b),
        AttributeKind.Postcode => DigitSimilarity.Postcode(a, b),
        AttributeKind.Phone => DigitSimilarity.Phone(a, b),
        AttributeKind.Number => DigitSimilarity.Number(a, b),
        _ => EditDistance.Similarity(a, b),
    };

    /// <summary>The log-weight a comparison of this similarity contributes.</summary>
    public double Weight(double similarity)
    {
        if (similarity >= 1)
            return Agree;
        if (similarity < PartialFrom)
            return Disagree;
        return Partial + (Agree - Partial) * (similarity - PartialFrom) / (1 - PartialFrom);
    }

    /// <summary>Weight of comparing two values; 0 when either is missing.</summary>
    public double Compare(string? a, string? b, out double similarity)
    {
        if (a is null || b is null)
        {
            similarity = 0;
            return 0;
        }
        similarity = Similarity(a, b);
        return Weight(similarity);
    }

    /// <summary>The normalised form of a raw trait value, or null when nothing is left.</summary>
    public string? Normalize(string? raw) => ValueNormalizer.Normalize(Kind, raw);
}
