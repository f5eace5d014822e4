namespace Cdp.MatchEval;

/// <summary>
/// What the evaluation drives: something that takes person records one at a time and puts each in a
/// profile, deciding online. The in-process index is one implementation; a server reached over HTTP
/// can be another. The metrics only see record ids and profile ids.
/// </summary>
public interface IMatchTarget : IDisposable
{
    /// <summary>A short label for reports.</summary>
    string Name { get; }

    /// <summary>Writes one record and returns where it landed and what the search saw.</summary>
    IdentifyOutcome Identify(string recordId, IReadOnlyList<KeyValuePair<string, string>> traits);

    /// <summary>The profile the record belongs to now (merges after its write may have moved it).</summary>
    ulong ProfileOf(string recordId);
}

/// <summary>
/// The result of one write: the profile the record is in just after it, the best candidate the search
/// listed before any merge (null if none reached the candidate score) and how many profiles it compared.
/// </summary>
public readonly record struct IdentifyOutcome(ulong ProfileId, ulong? TopCandidate, double TopScore, int Compared);
