using Cdp.Server.Matching;

namespace Cdp.MatchEval;

/// <summary>
/// For tuning, not for the figures: every record is searched against all earlier records (each its
/// own profile, no merges) and the scores of true and false pairs are summarised, with the worst
/// cases and their evidence, so weights and thresholds can be read off rather than guessed.
/// </summary>
public static class ScoreDiagnosis
{
    /// <summary>Prints the summary of one dataset to standard output.</summary>
    public static void Run(string dataset, IReadOnlyList<FebrlRecord> records, MatchModel model, int examples)
    {
        var index = new CandidateIndex(model);
        var parsed = records.Select(r => model.Read(r.Traits)).ToArray();
        var earlierOfEntity = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        int blockedOut = 0, belowMerge = 0, falseAboveCandidate = 0, falseAboveMerge = 0;
        var lowTrue = new List<(double Score, int A, int B)>();
        var highFalse = new List<(double Score, int A, int B)>();
        for (int i = 0; i < records.Count; i++)
        {
            var found = index.Find(parsed[i], ulong.MaxValue, int.MaxValue, double.NegativeInfinity, out _);
            var scoreOf = found.ToDictionary(c => (int)c.ProfileId, c => c.Score);
            if (earlierOfEntity.TryGetValue(records[i].Entity, out var same))
            {
                foreach (int e in same)
                {
                    if (!scoreOf.TryGetValue(e, out double s))
                    {
                        blockedOut++;
                        lowTrue.Add((double.NegativeInfinity, i, e));
                        continue;
                    }
                    if (s < model.AutoMergeScore)
                    {
                        belowMerge++;
                        lowTrue.Add((s, i, e));
                    }
                }
            }
            foreach (var c in found)
            {
                int e = (int)c.ProfileId;
                if (records[e].Entity == records[i].Entity)
                    continue;
                if (c.Score >= model.CandidateScore)
                    falseAboveCandidate++;
                if (c.Score >= model.AutoMergeScore)
                    falseAboveMerge++;
                highFalse.Add((c.Score, i, e));
            }
            index.Add((ulong)i, parsed[i]);
            if (!earlierOfEntity.TryGetValue(records[i].Entity, out var list))
                earlierOfEntity[records[i].Entity] = list = [];
            list.Add(i);
        }
        Console.WriteLine($"== {dataset}: true pairs outside every block {blockedOut}, true pairs below AutoMergeScore {belowMerge}, " +
            $"false pairs >= CandidateScore {falseAboveCandidate}, >= AutoMergeScore {falseAboveMerge}");
        Console.WriteLine("-- lowest-scoring true pairs");
        foreach (var (s, a, b) in lowTrue.OrderBy(x => x.Score).Take(examples))
            Print(model, records, parsed, s, a, b);
        Console.WriteLine("-- highest-scoring false pairs");
        foreach (var (s, a, b) in highFalse.OrderByDescending(x => x.Score).Take(examples))
            Print(model, records, parsed, s, a, b);
    }

    static void Print(MatchModel model, IReadOnlyList<FebrlRecord> records, MatchRecord[] parsed, double score, int a, int b)
    {
        var evidence = new List<MatchEvidence>();
        double s = model.Score(parsed[a], parsed[b], evidence);
        Console.WriteLine($"{records[a].RecordId} ~ {records[b].RecordId}: {(double.IsNegativeInfinity(score) ? "not blocked, " : "")}score {s:F1}");
        foreach (var e in evidence)
            Console.WriteLine($"    {e.Attribute,-13}{(e.Swapped ? "x" : " ")} {e.Value,-28} {e.CandidateValue,-28} sim {e.Similarity:F3} w {e.Weight:F2}");
    }
}
