namespace Cdp.Server.Matching;

/// <summary>
/// What one attribute contributed to a candidate's score: the two values compared, how similar the
/// comparator found them (0..1) and the log-weight added. <see cref="Swapped"/> marks a value read
/// from the attribute it is paired with (given name entered as surname).
/// </summary>
public readonly record struct MatchEvidence(
    string Attribute,
    AttributeKind Kind,
    string? Value,
    string? CandidateValue,
    double Similarity,
    double Weight,
    bool Swapped = false);
