namespace Cdp.Server.Matching;

/// <summary>
/// A profile that may be the same person as a searched record: its total weight (the best over the
/// spellings the profile has seen) and the per-attribute evidence of that best comparison.
/// </summary>
public sealed record MatchCandidate(ulong ProfileId, double Score, IReadOnlyList<MatchEvidence> Evidence);
