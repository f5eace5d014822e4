using System.Diagnostics;

namespace Cdp.MatchEval;

/// <summary>Figures of one dataset: clusters with auto-merge on, top candidates with it off.</summary>
public sealed record DatasetReport(
    string Dataset,
    int Records,
    PairwiseMetrics AutoMerge,
    PairwiseMetrics TopCandidates,
    double ComparedPerRecord,
    double MicrosecondsPerRecord);

/// <summary>
/// Feeds a dataset's records one at a time in file order to a fresh target, as a stream of writes
/// would arrive: no look-ahead and no second pass, so the result is what an online server would hold.
/// </summary>
public static class OnlineEvaluation
{
    /// <summary>
    /// Runs the dataset twice: with auto-merge (pairs = records in the same final profile) and without
    /// (pairs = each record with the records of its best candidate profile, if any reached the candidate score).
    /// </summary>
    /// <param name="createTarget">A fresh, empty target; the argument says whether it auto-merges.</param>
    public static DatasetReport Run(string dataset, IReadOnlyList<FebrlRecord> records, Func<bool, IMatchTarget> createTarget)
    {
        var entities = records.Select(r => r.Entity).ToArray();

        long compared = 0;
        var clock = Stopwatch.StartNew();
        ulong[] clusters;
        using (var target = createTarget(true))
        {
            foreach (var r in records)
                compared += target.Identify(r.RecordId, r.Traits).Compared;
            clock.Stop();
            clusters = records.Select(r => target.ProfileOf(r.RecordId)).ToArray();
        }
        var autoMerge = PairwiseMetrics.OfClusters(entities, clusters);

        var pairs = new List<(int, int)>();
        using (var target = createTarget(false))
        {
            var recordsOfProfile = new Dictionary<ulong, List<int>>();
            for (int i = 0; i < records.Count; i++)
            {
                var outcome = target.Identify(records[i].RecordId, records[i].Traits);
                if (outcome.TopCandidate is { } top && recordsOfProfile.TryGetValue(top, out var earlier))
                {
                    foreach (int e in earlier)
                        pairs.Add((i, e));
                }
                if (!recordsOfProfile.TryGetValue(outcome.ProfileId, out var mine))
                    recordsOfProfile[outcome.ProfileId] = mine = [];
                mine.Add(i);
            }
        }
        var topCandidates = PairwiseMetrics.OfPairs(entities, pairs);

        return new DatasetReport(dataset, records.Count, autoMerge, topCandidates,
            (double)compared / records.Count, clock.Elapsed.TotalMicroseconds / records.Count);
    }
}
