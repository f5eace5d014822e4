using System.Runtime.InteropServices;
using System.Text.Json;
using Cdp.LoadTests.Profiles;
using HdrHistogram;

namespace Cdp.LoadTests.Client;

/// <summary>Prints a run's numbers and writes the same numbers as JSON to the results folder.</summary>
internal static class ClientRunReport
{
    private static readonly (string Name, double Percentile)[] Percentiles =
        [("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)];

    public static void Print(ClientRunResult result, ErrorLog errors)
    {
        LongHistogram latency = result.Latency;
        Console.WriteLine();
        Console.WriteLine($"requests   {result.Requests:N0} in {result.Elapsed.TotalSeconds:0.00} s = {result.Throughput:N0} req/s" +
                          $"  (ok {result.Ok:N0}, not found {result.NotFound:N0}, errors {result.Errors:N0})");
        if (latency.TotalCount > 0)
        {
            string line = string.Join("  ", Percentiles.Select(p => $"{p.Name} {latency.GetValueAtPercentile(p.Percentile):N0}"));
            Console.WriteLine($"latency us {line}  max {latency.GetMaxValue():N0}  mean {latency.GetMean():N1}");
        }
        foreach (var (kind, count) in errors.Top(5))
            Console.WriteLine($"error      {count:N0} x {kind}");
    }

    /// <summary>Writes the JSON document and returns its path.</summary>
    public static string Write(string folder, string command, ClientRunOptions options, DateTimeOffset startedAt,
        ClientRunResult result, ErrorLog errors, LoadOutcome? load)
    {
        string path = ResultsFolder.NewFilePath(folder, startedAt);
        using var stream = File.Create(path);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("command", command);
        json.WriteString("startedAt", startedAt);
        json.WriteString("scenario", options.Scenario);

        json.WriteStartObject("settings");
        json.WriteString("host", options.Host);
        json.WriteNumber("port", options.Port);
        json.WriteNumber("connections", options.Connections);
        json.WriteNumber("pipeline", options.Pipeline);
        json.WriteNumber("durationSeconds", options.Duration.TotalSeconds);
        if (options.Requests is { } requests)
            json.WriteNumber("requests", requests);
        else
            json.WriteNull("requests");
        json.WriteNumber("warmupSeconds", options.Warmup.TotalSeconds);
        json.WriteNumber("profiles", options.Profiles);
        json.WriteBoolean("typed", options.Typed);
        json.WriteNumber("timeoutMs", options.Timeout.TotalMilliseconds);
        json.WriteEndObject();

        if (load is { } loaded)
        {
            json.WriteStartObject("load");
            json.WriteNumber("profiles", loaded.Profiles);
            json.WriteNumber("connections", options.LoadConnections);
            json.WriteNumber("pipeline", options.LoadPipeline);
            json.WriteNumber("elapsedSeconds", Math.Round(loaded.Elapsed.TotalSeconds, 3));
            json.WriteNumber("writesPerSecond", Math.Round(loaded.WritesPerSecond, 1));
            json.WriteNumber("failed", loaded.Failed);
            json.WriteEndObject();
        }

        json.WriteStartObject("result");
        json.WriteNumber("elapsedSeconds", Math.Round(result.Elapsed.TotalSeconds, 3));
        json.WriteNumber("requests", result.Requests);
        json.WriteNumber("ok", result.Ok);
        json.WriteNumber("notFound", result.NotFound);
        json.WriteNumber("errors", result.Errors);
        json.WriteNumber("throughput", Math.Round(result.Throughput, 1));
        json.WriteStartObject("latencyMicros");
        LongHistogram latency = result.Latency;
        json.WriteNumber("count", latency.TotalCount);
        if (latency.TotalCount > 0)
        {
            foreach (var (name, percentile) in Percentiles)
                json.WriteNumber(name, latency.GetValueAtPercentile(percentile));
            json.WriteNumber("max", latency.GetMaxValue());
            json.WriteNumber("mean", Math.Round(latency.GetMean(), 1));
        }
        json.WriteEndObject();
        json.WriteStartObject("errorKinds");
        foreach (var (kind, count) in errors.Top(20))
            json.WriteNumber(kind, count);
        json.WriteEndObject();
        json.WriteEndObject();

        json.WriteStartObject("machine");
        json.WriteString("os", RuntimeInformation.OSDescription);
        json.WriteString("runtime", RuntimeInformation.FrameworkDescription);
        json.WriteNumber("processors", Environment.ProcessorCount);
        json.WriteBoolean("serverGC", System.Runtime.GCSettings.IsServerGC);
        json.WriteEndObject();

        json.WriteEndObject();
        return path;
    }
}
