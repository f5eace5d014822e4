using System.Globalization;
using BenchmarkDotNet.Attributes;
using Cdp.Server.Matching;

namespace Cdp.Bench;

/// <summary>
/// One fuzzy search as the write path will run it: a record with a typo in the surname against an
/// index holding the Febrl dataset3 records (5,000) or 100,000 synthetic people made from them (each
/// record 20 times, with the birth year, street number and ssn changed per copy, so names and
/// postcodes recur 20 times and the name+postcode blocks are 20 times fuller than in the file).
/// </summary>
[MemoryDiagnoser]
public class MatchingBenchmarks
{
    readonly MatchModel model = new(MatchingOptions.Febrl());
    CandidateIndex index = null!;
    MatchRecord typo = null!;
    List<KeyValuePair<string, string>> typoTraits = [];

    /// <summary>Profiles in the index.</summary>
    [Params(5_000, 100_000)]
    public int Profiles { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rows = ReadDataset3();
        index = new CandidateIndex(model);
        int copies = Math.Max(1, Profiles / rows.Count);
        ulong id = 1;
        for (int copy = 0; copy < copies; copy++)
        {
            foreach (var row in rows)
                index.Add(id++, model.Read(copy == 0 ? row : Variant(row, copy)));
        }
        // rec-5-org is "jackson prestia, 29 priddle street, graceville 3012, 19260601"; the probe has
        // "presita" and another birth date, as a duplicate typed again would.
        typoTraits = rows.First(r => r.Any(t => t.Key == "lastName" && t.Value == "prestia"))
            .Select(t => t.Key switch
            {
                "lastName" => new KeyValuePair<string, string>(t.Key, "presita"),
                "birthDate" => new KeyValuePair<string, string>(t.Key, "19260106"),
                _ => t,
            }).ToList();
        typo = model.Read(typoTraits);
        if (index.Find(typo, 0, 10).Count == 0)
            throw new InvalidOperationException("The probe record found no candidate.");
    }

    /// <summary>Blocking, scoring the candidate set, and building the candidates with evidence.</summary>
    [Benchmark]
    public int FindTypo() => index.Find(typo, 0, model.MaxCandidates).Count;

    /// <summary>Reading and normalising a write's traits into a match record.</summary>
    [Benchmark]
    public int ReadRecord() => model.Read(typoTraits).PresentCount;

    static List<KeyValuePair<string, string>> Variant(List<KeyValuePair<string, string>> row, int copy) =>
        row.Select(t => t.Key switch
        {
            "birthDate" when t.Value.Length == 8 && int.TryParse(t.Value[..4], out int y) =>
                new KeyValuePair<string, string>(t.Key, (y + copy).ToString(CultureInfo.InvariantCulture) + t.Value[4..]),
            "streetNumber" => new KeyValuePair<string, string>(t.Key, t.Value + copy.ToString(CultureInfo.InvariantCulture)),
            "ssn" => new KeyValuePair<string, string>(t.Key, copy.ToString(CultureInfo.InvariantCulture) + t.Value),
            _ => t,
        }).ToList();

    // The Febrl columns as the traits MatchingOptions.Febrl() reads (tools/Cdp.MatchEval has the full reader).
    static readonly string[] Traits = ["", "firstName", "lastName", "streetNumber", "address1", "address2", "city", "postcode", "state", "birthDate", "ssn"];

    static List<List<KeyValuePair<string, string>>> ReadDataset3()
    {
        string path = FindDataset3();
        var rows = new List<List<KeyValuePair<string, string>>>();
        foreach (string line in File.ReadLines(path).Skip(1))
        {
            var cells = line.Split(',', StringSplitOptions.TrimEntries);
            var row = new List<KeyValuePair<string, string>>();
            for (int c = 1; c < cells.Length && c < Traits.Length; c++)
            {
                if (cells[c].Length > 0)
                    row.Add(new(Traits[c], cells[c]));
            }
            rows.Add(row);
        }
        return rows;
    }

    // BenchmarkDotNet runs the benchmark from a generated folder under bin/; the data sits beside the repository.
    static string FindDataset3()
    {
        string? fromEnv = Environment.GetEnvironmentVariable("CDP_FEBRL_DIR");
        if (fromEnv is not null)
            return Path.Combine(fromEnv, "dataset3.csv");
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Cdp.sln")))
                return Path.Combine(dir.FullName, "..", "shared", "data", "febrl", "dataset3.csv");
        }
        throw new FileNotFoundException("Febrl dataset3.csv not found; set CDP_FEBRL_DIR to its folder.");
    }
}
