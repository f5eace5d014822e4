using Cdp.Server.Matching;

namespace Cdp.MatchEval;

/// <summary>
/// Drives a <see cref="CandidateIndex"/> the way the engine will: each write gets a new profile id,
/// is searched against the profiles so far, merged with what <see cref="MergeDecision"/> picks (the
/// oldest profile survives) and then added as a variant of its profile.
/// </summary>
public sealed class InProcessMatchTarget : IMatchTarget
{
    readonly MatchModel model;
    readonly CandidateIndex index;
    readonly Dictionary<string, ulong> profileOfRecord = new(StringComparer.Ordinal);
    // Where each retired profile went; followed to the live survivor like the engine's aliases.
    readonly Dictionary<ulong, ulong> mergedInto = [];
    ulong nextProfileId = 1;

    /// <summary>A target with an empty index.</summary>
    public InProcessMatchTarget(MatchModel model)
    {
        this.model = model;
        index = new CandidateIndex(model);
    }

    /// <inheritdoc/>
    public string Name => "in-process";

    /// <summary>The index, for diagnostics.</summary>
    public CandidateIndex Index => index;

    /// <inheritdoc/>
    public IdentifyOutcome Identify(string recordId, IReadOnlyList<KeyValuePair<string, string>> traits)
    {
        ulong profile = nextProfileId++;
        var record = model.Read(traits);
        var candidates = index.Find(record, profile, model.MaxCandidates, model.CandidateScore, out int compared);
        var chosen = MergeDecision.ProfilesToMerge(candidates, model);
        if (chosen.Count > 0)
        {
            ulong survivor = chosen.Min();
            foreach (ulong other in chosen)
            {
                if (other == survivor)
                    continue;
                index.MergeInto(survivor, other);
                mergedInto[other] = survivor;
            }
            mergedInto[profile] = survivor;
            profile = survivor;
        }
        index.Add(profile, record);
        profileOfRecord[recordId] = profile;
        return candidates.Count > 0
            ? new IdentifyOutcome(profile, candidates[0].ProfileId, candidates[0].Score, compared)
            : new IdentifyOutcome(profile, null, 0, compared);
    }

    /// <inheritdoc/>
    public ulong ProfileOf(string recordId)
    {
        ulong p = profileOfRecord[recordId];
        while (mergedInto.TryGetValue(p, out ulong next))
            p = next;
        return p;
    }

    /// <inheritdoc/>
    public void Dispose() { }
}
