namespace Cdp.Server.Matching;

/// <summary>
/// Which profiles a new write is merged with, given its candidates (sorted best first). The engine
/// and the evaluation (tools/Cdp.MatchEval) call this one function so the measured precision is the
/// precision the server gets.
/// </summary>
public static class MergeDecision
{
    /// <summary>
    /// With <see cref="MatchModel.MergeWithAll"/>: every candidate at or above
    /// <see cref="MatchModel.AutoMergeScore"/>. A write that matches two profiles that confidently is
    /// evidence the two are one person whose earlier records were too corrupted to match each other;
    /// on the Febrl data this recovers recall without losing precision (docs/identity.md). Otherwise
    /// the best candidate only. Empty when <see cref="MatchModel.AutoMerge"/> is off.
    /// </summary>
    public static IReadOnlyList<ulong> ProfilesToMerge(IReadOnlyList<MatchCandidate> candidates, MatchModel model)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(model);
        if (!model.AutoMerge || candidates.Count == 0 || candidates[0].Score < model.AutoMergeScore)
            return [];
        if (!model.MergeWithAll)
            return [candidates[0].ProfileId];
        var chosen = new List<ulong>(2);
        foreach (var c in candidates)
        {
            if (c.Score >= model.AutoMergeScore)
                chosen.Add(c.ProfileId);
        }
        return chosen;
    }
}
