namespace Cdp.MatchEval;

/// <summary>
/// Pairwise precision and recall: a predicted pair is two records put together, a true pair two
/// records of one person. Standard for record linkage because it weighs a wrong merge of two big
/// clusters by the number of record pairs it wrongly joins.
/// </summary>
public readonly record struct PairwiseMetrics(long TruePairs, long PredictedPairs, long CorrectPairs)
{
    /// <summary>Correct / predicted (1 when nothing was predicted).</summary>
    public double Precision => PredictedPairs == 0 ? 1 : (double)CorrectPairs / PredictedPairs;
    /// <summary>Correct / true.</summary>
    public double Recall => TruePairs == 0 ? 1 : (double)CorrectPairs / TruePairs;
    /// <summary>Harmonic mean of precision and recall.</summary>
    public double F1 => Precision + Recall == 0 ? 0 : 2 * Precision * Recall / (Precision + Recall);

    /// <summary>Pairs of true entities among records, as n(n-1)/2 per entity.</summary>
    public static long CountTruePairs(IEnumerable<string> entities) =>
        entities.GroupBy(e => e, StringComparer.Ordinal).Sum(g => Pairs(g.LongCount()));

    /// <summary>Metrics of a clustering: every two records with the same cluster label are a predicted pair.</summary>
    public static PairwiseMetrics OfClusters(IReadOnlyList<string> entities, IReadOnlyList<ulong> clusters)
    {
        if (entities.Count != clusters.Count)
            throw new ArgumentException("One cluster label per record is needed.");
        long predicted = clusters.GroupBy(c => c).Sum(g => Pairs(g.LongCount()));
        long correct = Enumerable.Range(0, entities.Count)
            .GroupBy(i => (entities[i], clusters[i]))
            .Sum(g => Pairs(g.LongCount()));
        return new PairwiseMetrics(CountTruePairs(entities), predicted, correct);
    }

    /// <summary>Metrics of an explicit set of predicted pairs (record indices; each unordered pair once).</summary>
    public static PairwiseMetrics OfPairs(IReadOnlyList<string> entities, IEnumerable<(int A, int B)> pairs)
    {
        long predicted = 0, correct = 0;
        foreach (var (a, b) in pairs)
        {
            predicted++;
            if (entities[a] == entities[b])
                correct++;
        }
        return new PairwiseMetrics(CountTruePairs(entities), predicted, correct);
    }

    static long Pairs(long n) => n * (n - 1) / 2;
}
