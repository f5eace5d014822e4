namespace Cdp.Server.Matching;

/// <summary>
/// The validated matching configuration: the compared attributes with their comparators and
/// weights, the blocking rules, and the score thresholds. A record pair's score is the sum of the
/// attributes' log-weights (Fellegi-Sunter), so it reads as log2 of how much likelier the agreement
/// pattern is for the same person than for two different people. Immutable and thread-safe.
/// </summary>
public sealed class MatchModel
{
    readonly MatchAttribute[] attributes;
    readonly BlockingRule[] blocking;
    readonly Dictionary<string, int[]> byTrait;
    readonly Dictionary<string, MatchAttribute> byName;

    /// <summary>Builds the model; throws <see cref="InvalidOperationException"/> on invalid settings.</summary>
    public MatchModel(MatchingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Enabled = options.Enabled;
        AutoMerge = options.AutoMerge;
        AutoMergeScore = options.AutoMergeScore;
        CandidateScore = options.CandidateScore;
        MaxCandidates = options.MaxCandidates;
        MergeWithAll = options.MergeWith == "all";
        MaxVariantsPerProfile = options.MaxVariantsPerProfile;
        MaxBlockSize = options.MaxBlockSize;

        var names = options.Attributes.Keys.ToList();
        attributes = new MatchAttribute[names.Count];
        byName = new(StringComparer.Ordinal);
        var traits = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (int i = 0; i < names.Count; i++)
        {
            var o = options.Attributes[names[i]];
            MatchAttribute.TryParseKind(o.Kind!, out var kind);
            var d = MatchAttribute.DefaultWeights(kind);
            var weights = new MatchAttribute.Weights(o.Agree ?? d.Agree, o.Partial ?? d.Partial, o.Disagree ?? d.Disagree, o.PartialFrom ?? d.PartialFrom);
            string trait = o.Trait ?? names[i];
            attributes[i] = new MatchAttribute(i, names[i], trait, kind, weights);
            byName[names[i]] = attributes[i];
            if (!traits.TryGetValue(trait, out var list))
                traits[trait] = list = [];
            list.Add(i);
        }
        foreach (var a in attributes)
        {
            if (options.Attributes[a.Name].SwapWith is { } other)
            {
                a.SwapWith = byName[other].Ordinal;
                byName[other].SwapWith = a.Ordinal;
            }
        }
        byTrait = traits.ToDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal);
        blocking = options.Blocking.Select(b => BlockingRule.Parse(b, names)).ToArray();
    }

    /// <summary>Whether writes are matched at all.</summary>
    public bool Enabled { get; }
    /// <summary>Whether the engine merges on its own (<see cref="MergeDecision"/>).</summary>
    public bool AutoMerge { get; }
    /// <summary>Lowest score at which a write is merged into a profile.</summary>
    public double AutoMergeScore { get; }
    /// <summary>Lowest score at which a profile is listed as a candidate.</summary>
    public double CandidateScore { get; }
    /// <summary>Most candidates returned by one search.</summary>
    public int MaxCandidates { get; }
    /// <summary>True: merge with every candidate at or above the threshold; false: the best only.</summary>
    public bool MergeWithAll { get; }
    /// <summary>Distinct spellings kept per profile.</summary>
    public int MaxVariantsPerProfile { get; }
    /// <summary>Block size beyond which a block is no longer searched.</summary>
    public int MaxBlockSize { get; }

    /// <summary>Compared attributes by ordinal.</summary>
    public IReadOnlyList<MatchAttribute> Attributes => attributes;

    /// <summary>Blocking rules in configured order.</summary>
    public IReadOnlyList<BlockingRule> Blocking => blocking;

    /// <summary>The attribute of that name, or null.</summary>
    public MatchAttribute? Find(string name) => byName.GetValueOrDefault(name);

    internal bool TryGetAttributes(string trait, out int[] ordinals) => byTrait.TryGetValue(trait, out ordinals!);

    /// <summary>Reads a write's traits into a record of this model.</summary>
    public MatchRecord Read(IEnumerable<KeyValuePair<string, string>> traits) => MatchRecord.From(this, traits);

    /// <summary>Total log-weight of the comparison of two records.</summary>
    public double Score(MatchRecord record, MatchRecord candidate) => Score(record, candidate, null);

    /// <summary>Total log-weight, adding each attribute's contribution to <paramref name="evidence"/> when given.</summary>
    public double Score(MatchRecord record, MatchRecord candidate, List<MatchEvidence>? evidence)
    {
        double total = 0;
        for (int i = 0; i < attributes.Length; i++)
        {
            var a = attributes[i];
            int j = a.SwapWith;
            if (j < 0)
            {
                total += Compare(a, record[i], candidate[i], false, evidence);
                continue;
            }
            if (j < i)
                continue; // scored with its partner
            var b = attributes[j];
            double straight = a.Compare(record[i], candidate[i], out _) + b.Compare(record[j], candidate[j], out _);
            bool crossed = false;
            if (record[i] is not null && record[j] is not null && candidate[i] is not null && candidate[j] is not null)
                crossed = a.Compare(record[i], candidate[j], out _) + b.Compare(record[j], candidate[i], out _) > straight;
            total += crossed
                ? Compare(a, record[i], candidate[j], true, evidence) + Compare(b, record[j], candidate[i], true, evidence)
                : Compare(a, record[i], candidate[i], false, evidence) + Compare(b, record[j], candidate[j], false, evidence);
        }
        return total;
    }

    static double Compare(MatchAttribute a, string? value, string? other, bool swapped, List<MatchEvidence>? evidence)
    {
        double weight = a.Compare(value, other, out double similarity);
        evidence?.Add(new MatchEvidence(a.Name, a.Kind, value, other, similarity, weight, swapped));
        return weight;
    }
}
