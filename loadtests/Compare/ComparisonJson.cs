using System.Runtime.InteropServices;
using System.Text.Json;
using Cdp.LoadTests.Profiles;
using Cdp.LoadTests.Workload;
using HdrHistogram;

namespace Cdp.LoadTests.Compare;

/// <summary>Writes a comparison as JSON: the same figures as the tables, plus every round, so runs can be compared later.</summary>
internal static class ComparisonJson
{
    public static string Write(string folder, string command, CompareOptions options, DateTimeOffset startedAt, IReadOnlyList<LoadOutcome> loads, IReadOnlyList<ScenarioComparison> comparisons)
    {
        string path = ResultsFolder.NewFilePath(folder, startedAt);
        using var stream = File.Create(path);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("command", command);
        json.WriteString("startedAt", startedAt);

        json.WriteStartObject("settings");
        json.WriteString("targets", string.Join(",", options.Targets));
        json.WriteString("host", options.Host);
        json.WriteNumber("profiles", options.Profiles);
        json.WriteString("keys", options.Keys == KeyDistribution.Zipf ? "zipf" : "uniform");
        if (options.Keys == KeyDistribution.Zipf)
            json.WriteNumber("zipfTheta", options.ZipfTheta);
        json.WriteNumber("seed", options.Seed);
        json.WriteNumber("connections", options.Connections);
        json.WriteNumber("pipeline", options.Pipeline);
        json.WriteNumber("rounds", options.Rounds);
        json.WriteNumber("durationSeconds", options.Duration.TotalSeconds);
        if (options.Requests is { } requests)
            json.WriteNumber("requests", requests);
        else
            json.WriteNull("requests");
        json.WriteNumber("warmupSeconds", options.Warmup.TotalSeconds);
        json.WriteString("baseline", options.Baseline);
        json.WriteEndObject();

        json.WriteStartObject("machine");
        json.WriteString("os", RuntimeInformation.OSDescription);
        json.WriteString("runtime", RuntimeInformation.FrameworkDescription);
        json.WriteNumber("processors", Environment.ProcessorCount);
        json.WriteString("note", "harness and servers share these processors");
        json.WriteEndObject();

        json.WriteStartArray("loads");
        foreach (LoadOutcome load in loads)
        {
            json.WriteStartObject();
            json.WriteString("store", load.Store);
            json.WriteNumber("profiles", load.Profiles);
            json.WriteNumber("elapsedSeconds", Math.Round(load.Elapsed.TotalSeconds, 3));
            json.WriteNumber("writesPerSecond", Math.Round(load.WritesPerSecond, 1));
            json.WriteNumber("failed", load.Failed);
            json.WriteEndObject();
        }
        json.WriteEndArray();

        json.WriteStartArray("scenarios");
        foreach (ScenarioComparison comparison in comparisons)
            WriteScenario(json, comparison);
        json.WriteEndArray();

        json.WriteEndObject();
        return path;
    }

    private static void WriteScenario(Utf8JsonWriter json, ScenarioComparison comparison)
    {
        json.WriteStartObject();
        json.WriteString("scenario", comparison.Scenario.Name);
        json.WriteString("description", comparison.Scenario.Description);
        json.WriteString("baseline", comparison.Baseline);
        json.WriteStartArray("targets");
        foreach (TargetMeasurement m in comparison.Targets)
        {
            json.WriteStartObject();
            json.WriteString("target", m.Target.Name);
            json.WriteString("endpoint", m.Target.Endpoint);
            json.WriteStartObject("operations");
            foreach (Operation operation in new[] { Operation.Lookup, Operation.Track }.Where(comparison.Scenario.Uses))
                json.WriteString(operation == Operation.Lookup ? "lookup" : "track", m.Target.Protocol.Describe(operation));
            json.WriteEndObject();
            json.WriteNumber("elapsedSeconds", Math.Round(m.Elapsed.TotalSeconds, 3));
            json.WriteNumber("operations", m.Operations);
            json.WriteNumber("ok", m.Ok);
            json.WriteNumber("notFound", m.NotFound);
            json.WriteNumber("errors", m.Errors);
            json.WriteNumber("throughput", Math.Round(m.Throughput, 1));
            WriteOptional(json, "roundSpread", m.RoundSpread, 4);
            WriteLatency(json, m.Latency);
            if (m.ServerPid is { } pid)
                json.WriteNumber("serverPid", pid);
            WriteOptional(json, "serverCpuShare", m.ServerCpuShare, 3);
            WriteOptional(json, "serverCpuMicrosPerOperation", m.ServerCpuMicrosPerOperation, 2);
            WriteOptional(json, "harnessCpuShare", m.HarnessCpuShare, 3);
            WriteOptional(json, "throughputRatioToBaseline", comparison.ThroughputRatio(m), 4);
            WriteOptional(json, "p99RatioToBaseline", comparison.P99Ratio(m), 4);

            json.WriteStartArray("rounds");
            foreach (RoundResult round in m.Rounds)
            {
                json.WriteStartObject();
                json.WriteNumber("round", round.Round);
                json.WriteNumber("slot", round.Slot);
                json.WriteNumber("elapsedSeconds", Math.Round(round.Run.Elapsed.TotalSeconds, 3));
                json.WriteNumber("ok", round.Run.Ok);
                json.WriteNumber("notFound", round.Run.NotFound);
                json.WriteNumber("errors", round.Run.Errors);
                json.WriteNumber("throughput", Math.Round(round.Run.Throughput, 1));
                WriteLatency(json, round.Run.Latency);
                json.WriteEndObject();
            }
            json.WriteEndArray();

            json.WriteStartObject("failures");
            foreach (var (kind, count) in m.Failures.Top(20))
                json.WriteNumber(kind, count);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteLatency(Utf8JsonWriter json, LongHistogram latency)
    {
        json.WriteStartObject("latencyMicros");
        json.WriteNumber("count", latency.TotalCount);
        if (latency.TotalCount > 0)
        {
            foreach (var (name, percentile) in ComparisonTable.Percentiles)
                json.WriteNumber(name, latency.GetValueAtPercentile(percentile));
            json.WriteNumber("max", latency.GetMaxValue());
            json.WriteNumber("mean", Math.Round(latency.GetMean(), 1));
        }
        json.WriteEndObject();
    }

    private static void WriteOptional(Utf8JsonWriter json, string name, double? value, int digits)
    {
        if (value is { } v)
            json.WriteNumber(name, Math.Round(v, digits));
        else
            json.WriteNull(name);
    }
}
