namespace Cdp.MatchEval;

/// <summary>
/// One row of a Febrl file: its id, the person it truly is (the N of rec-N-...; used only to score
/// the result, never for matching) and its values as traits.
/// </summary>
public sealed record FebrlRecord(string RecordId, string Entity, IReadOnlyList<KeyValuePair<string, string>> Traits);
