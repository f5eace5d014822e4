using System.Globalization;
using Cdp.MatchEval;
using Cdp.Server.Matching;

// dotnet run -c Release --project tools/Cdp.MatchEval -- [--data DIR] [--datasets a.csv,b.csv] [--merge-with all|best]
//                                                        [--auto-merge-score S] [--diagnose N] [--memory]
// Matches each Febrl dataset online, in file order, with MatchingOptions.Febrl() and prints pairwise
// precision / recall / F1 against the ground truth in rec_id (which matching never sees).
string? data = null;
string[] datasets = ["dataset1.csv", "dataset2.csv", "dataset3.csv"];
int diagnose = -1;
bool memory = false;
string target = "both";
var options = MatchingOptions.Febrl();
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
    switch (args[i])
    {
        case "--data": data = Next(); break;
        case "--datasets": datasets = Next().Split(','); break;
        case "--merge-with": options.MergeWith = Next(); break;
        case "--auto-merge-score": options.AutoMergeScore = double.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--candidate-score": options.CandidateScore = double.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--diagnose": diagnose = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--memory": memory = true; break;
        case "--target": target = Next(); break;
        default:
            Console.Error.WriteLine($"Unknown option {args[i]}. Options: --data DIR, --datasets LIST, --merge-with all|best, --auto-merge-score S, --candidate-score S, --diagnose N, --memory, --target library|server|both");
            return 2;
    }
}
data ??= DefaultDataFolder();
if (!Directory.Exists(data))
{
    Console.Error.WriteLine($"No data folder {data}; pass --data /path/to/febrl.");
    return 2;
}

var mergeModel = new MatchModel(options);
var listOptions = MatchingOptions.Febrl();
listOptions.MergeWith = options.MergeWith;
listOptions.AutoMergeScore = options.AutoMergeScore;
listOptions.CandidateScore = options.CandidateScore;
listOptions.AutoMerge = false;
var listModel = new MatchModel(listOptions);

if (diagnose < 0 && !memory)
{
    // One untimed pass so that us/record measures tier-1 code, as in a server that has been up a while.
    var warmUp = FebrlDataset.Read(Path.Combine(data, datasets[0]));
    OnlineEvaluation.Run("warm-up", warmUp, autoMerge => new InProcessMatchTarget(autoMerge ? mergeModel : listModel));
}

Console.WriteLine($"Febrl online matching, file order; AutoMergeScore {options.AutoMergeScore}, CandidateScore {options.CandidateScore}, MergeWith {options.MergeWith}");
Console.WriteLine();
Console.WriteLine("| dataset | records | true pairs | mode | predicted pairs | precision | recall | F1 | compared/record | us/record |");
Console.WriteLine("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
foreach (string name in datasets)
{
    var records = FebrlDataset.Read(Path.Combine(data, name));
    if (memory)
    {
        // Managed heap growth: the normalised records (kept as variants), then the index around them.
        long start = GC.GetTotalMemory(forceFullCollection: true);
        var parsedRecords = records.Select(r => mergeModel.Read(r.Traits)).ToList();
        long withRecords = GC.GetTotalMemory(forceFullCollection: true);
        var index = new CandidateIndex(mergeModel);
        for (int i = 0; i < parsedRecords.Count; i++)
            index.Add((ulong)i + 1, parsedRecords[i]);
        long withIndex = GC.GetTotalMemory(forceFullCollection: true);
        Console.WriteLine($"{name}: {index.ProfileCount} one-variant profiles; records {(withRecords - start) / parsedRecords.Count} B each, " +
            $"index {(withIndex - withRecords) / index.ProfileCount} B per profile");
        GC.KeepAlive(parsedRecords);
        continue;
    }
    if (diagnose >= 0)
    {
        ScoreDiagnosis.Run(name, records, mergeModel, diagnose);
        continue;
    }
    if (target is "library" or "both")
    {
        var report = OnlineEvaluation.Run(name, records, autoMerge => new InProcessMatchTarget(autoMerge ? mergeModel : listModel));
        Row(report, "auto-merge", report.AutoMerge, $"{report.ComparedPerRecord:F1}", $"{report.MicrosecondsPerRecord:F1}");
        Row(report, "top candidate", report.TopCandidates, "", "");
    }
    if (target is "server" or "both")
    {
        // The same records through the real server over HTTP: its write path decides the merges.
        var report = OnlineEvaluation.Run(name, records, autoMerge => ServerMatchTarget.Start(ServerOptions(options), autoMerge));
        Row(report, "server auto-merge", report.AutoMerge, "", $"{report.MicrosecondsPerRecord:F1}");
        Row(report, "server top candidate", report.TopCandidates, "", "");
    }
}
return 0;

// A copy, so the server's Enabled/AutoMerge switches do not touch the library run's options.
static MatchingOptions ServerOptions(MatchingOptions o) => System.Text.Json.JsonSerializer.Deserialize<MatchingOptions>(System.Text.Json.JsonSerializer.Serialize(o))!;

static void Row(DatasetReport r, string mode, PairwiseMetrics m, string compared, string micros) =>
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {r.Dataset} | {r.Records} | {m.TruePairs} | {mode} | {m.PredictedPairs} | {m.Precision:F4} | {m.Recall:F4} | {m.F1:F4} | {compared} | {micros} |"));

// The repository sits next to the shared data: <root>/../shared/data/febrl.
static string DefaultDataFolder()
{
    for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "Cdp.sln")))
            return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data", "febrl"));
    }
    return Path.Combine("..", "shared", "data", "febrl");
}
