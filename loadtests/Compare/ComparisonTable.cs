using System.Globalization;
using System.Text;
using Cdp.LoadTests.Workload;
using HdrHistogram;

namespace Cdp.LoadTests.Compare;

/// <summary>Prints one scenario's comparison as a fixed-width table.</summary>
internal static class ComparisonTable
{
    public static readonly (string Name, double Percentile)[] Percentiles = [("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)];

    public static void Print(ScenarioComparison comparison, CompareOptions options, TextWriter output)
    {
        Scenario scenario = comparison.Scenario;
        string keys = options.Keys == KeyDistribution.Zipf
            ? string.Create(CultureInfo.InvariantCulture, $"zipf (theta {options.ZipfTheta})")
            : "uniform";
        output.WriteLine();
        output.WriteLine($"== {scenario.Name}: {scenario.Description}; {keys} keys over {options.Profiles:N0} profiles; " +
                         $"{options.Rounds} round(s) x {Budget(options)} per target, round-robin");
        foreach (TargetMeasurement m in comparison.Targets)
        {
            var operations = new[] { Operation.Lookup, Operation.Track }.Where(scenario.Uses).Select(m.Target.Protocol.Describe);
            output.WriteLine($"   {m.Target.Name,-9} {m.Target.Endpoint,-16} {string.Join("  |  ", operations)}");
        }

        string b = comparison.Baseline;
        var header = new[] { "target", "conn x pipe", "req/s", "spread" }
            .Concat(Percentiles.Select(p => p.Name + " us")).Concat(["max us", "errors", "not found", "srv cpu", "srv us/op", "cli cpu", $"req/s / {b}", $"p99 / {b}"])
            .ToArray();
        var rows = new List<string[]> { header };
        foreach (TargetMeasurement m in comparison.Targets)
        {
            var latency = m.Latency;
            bool any = latency.TotalCount > 0;
            rows.Add(
            [
                m.Target.Name,
                $"{options.Connections} x {options.Pipeline}",
                N(m.Throughput),
                Percent(m.RoundSpread),
                .. Percentiles.Select(p => any ? N(latency.GetValueAtPercentile(p.Percentile)) : "-"),
                any ? N(latency.GetMaxValue()) : "-",
                N(m.Errors),
                N(m.NotFound),
                Percent(m.ServerCpuShare),
                m.ServerCpuMicrosPerOperation is { } us ? us.ToString("0.0", CultureInfo.InvariantCulture) : "-",
                Percent(m.HarnessCpuShare),
                Ratio(comparison.ThroughputRatio(m)),
                Ratio(comparison.P99Ratio(m)),
            ]);
        }

        int[] widths = Enumerable.Range(0, header.Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (string[] row in rows)
        {
            var line = new StringBuilder();
            for (int c = 0; c < row.Length; c++)
            {
                // The first column reads left to right; numbers line up on the right.
                line.Append(c == 0 ? row[c].PadRight(widths[c]) : row[c].PadLeft(widths[c]));
                line.Append(c == row.Length - 1 ? "" : "  ");
            }
            output.WriteLine(line.ToString());
        }

        foreach (TargetMeasurement m in comparison.Targets)
        {
            foreach (var (kind, count) in m.Failures.Top(3))
                output.WriteLine($"   {m.Target.Name}: {count:N0} x {kind}");
            if (m.NotFound > 0)
                output.WriteLine($"   {m.Target.Name}: {m.NotFound:N0} lookups found no profile; load it first (--load with the same --profiles).");
        }
    }

    private static string Budget(CompareOptions options) => options.Requests is { } requests
        ? $"{requests:N0} requests (at most {options.Duration.TotalSeconds:0.##} s)"
        : $"{options.Duration.TotalSeconds:0.##} s";

    private static string N(double value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Percent(double? share) => share is { } s ? (s * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%" : "-";

    private static string Ratio(double? ratio) => ratio is { } r ? r.ToString("0.00", CultureInfo.InvariantCulture) : "-";
}
