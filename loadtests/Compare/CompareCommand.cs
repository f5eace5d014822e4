using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Cdp.LoadTests.Driver;
using Cdp.LoadTests.Profiles;
using Cdp.LoadTests.Protocols;
using Cdp.LoadTests.Workload;
using HdrHistogram;

namespace Cdp.LoadTests.Compare;

/// <summary>
/// The <c>compare</c> and <c>load</c> commands. Targets are measured in alternation (round r starts with target r,
/// then the others in order) so drift on the machine — other processes, thermal, a server's background work — is
/// spread over all of them, and each target's rounds are merged.
/// </summary>
internal static class CompareCommand
{
    // Pre-drawn requests per connection: enough that cycling through them does not repeat within a short run,
    // small enough for many connections (4 M entries of 4 bytes in all).
    private const int SequenceEntriesInAll = 4 << 20;

    public static async Task<int> RunAsync(string[] args, string command)
    {
        CompareOptions options;
        try
        {
            options = CompareOptions.Parse(args);
        }
        catch (FormatException e)
        {
            if (e.Message.Length > 0)
                Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(CompareOptions.Usage);
            return 2;
        }
        Console.WriteLine($"# settings: {options}");
        Console.WriteLine($"# runtime: {RuntimeInformation.FrameworkDescription}, {Environment.ProcessorCount} processors shared by the harness and the servers, server GC {System.Runtime.GCSettings.IsServerGC}");
        Console.WriteLine($"# sockets: {InlineSocketCompletions.Describe()}");

        var targets = options.Targets.Select(name => Target.Create(name, options)).ToArray();
        // Reachability first, so a missing server fails in a second rather than after loading the others.
        foreach (Target target in targets)
        {
            string? problem = await ProbeAsync(target);
            if (problem is not null)
            {
                Console.Error.WriteLine($"cannot reach {target.Name} at {target.Endpoint}: {problem}");
                Console.Error.WriteLine("start the servers first: bash scripts/bench-servers.sh start");
                return 3;
            }
        }

        DateTimeOffset startedAt = DateTimeOffset.UtcNow;
        var loads = new List<LoadOutcome>();
        if (options.Load)
        {
            var errors = new ErrorLog();
            foreach (Target target in targets.DistinctBy(t => t.Store))
            {
                Console.WriteLine($"loading {options.Profiles:N0} profiles into {target.Store}...");
                LoadOutcome outcome = await LoadAsync(target, options, errors);
                loads.Add(outcome);
                Console.WriteLine($"loaded     {outcome}");
            }
            foreach (var (kind, count) in errors.Top(5))
                Console.WriteLine($"error      {count:N0} x {kind}");
        }
        bool loadFailed = loads.Any(l => l.Failed > 0);
        if (options.Verb == "load")
            return loadFailed ? 1 : 0;

        Console.WriteLine($"measuring for at most ~{options.LongestRun.TotalSeconds:N0} s " +
                          $"({options.Scenarios.Count} scenario(s) x {options.Rounds} round(s) x {targets.Length} target(s) x {(options.Warmup + options.Duration).TotalSeconds:0.#} s)");
        var probes = targets.ToDictionary(t => t.Name, t => IsLocal(t.Host) ? ProcessCpuProbe.ForListeningPort(t.Port) : null);
        var encoded = new Dictionary<(string Target, Operation Operation), EncodedRequests>();
        var comparisons = new List<ScenarioComparison>();
        foreach (Scenario scenario in options.Scenarios)
        {
            int length = Math.Clamp(SequenceEntriesInAll / options.Connections, 4096, 1 << 20);
            RequestSequence[] sequences = RequestSequence.Build(options.Connections, length, options.Profiles, options.Keys, options.ZipfTheta, scenario.TrackShare, options.Seed);
            var measurements = targets.Select(t => new TargetMeasurement(t, probes[t.Name]?.Pid)).ToArray();
            Console.WriteLine();
            Console.WriteLine($"-- {scenario.Name}: {options.Connections} connections x {options.Pipeline} in flight");
            for (int round = 1; round <= options.Rounds; round++)
            {
                for (int slot = 0; slot < targets.Length; slot++)
                {
                    int index = (round - 1 + slot) % targets.Length;
                    Target target = targets[index];
                    EncodedRequests?[] requests = RequestsFor(target, scenario, options.Profiles, encoded);
                    var (_, stillBusy) = await ServerSettle.WaitAsync(probes, options.Settle);
                    if (stillBusy is not null)
                        Console.WriteLine($"   settle     still busy after {options.Settle.TotalSeconds:0} s: {stillBusy}; measuring anyway");
                    RoundResult result = await MeasureAsync(target, requests, sequences, probes[target.Name], options, round, slot + 1);
                    measurements[index].Add(result);
                    PrintRound(result, target, options.Rounds);
                }
            }
            var comparison = new ScenarioComparison(scenario, measurements, options.Baseline);
            comparisons.Add(comparison);
            ComparisonTable.Print(comparison, options, Console.Out);
        }

        string path = ComparisonJson.Write(options.OutputFolder ?? ResultsFolder.Default(), command, options, startedAt, loads, comparisons);
        Console.WriteLine();
        Console.WriteLine($"results    {path}");
        bool anyErrors = comparisons.Any(c => c.Targets.Any(t => t.Errors > 0 || t.Rounds.Any(r => r.Run.Failures.Count > 0)));
        return anyErrors || loadFailed ? 1 : 0;
    }

    private static async Task<RoundResult> MeasureAsync(Target target, EncodedRequests?[] requests, RequestSequence[] sequences,
        ProcessCpuProbe? probe, CompareOptions options, int round, int slot)
    {
        // Collect the previous run's garbage now rather than inside this run's measured window.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var cpu = new CpuWindow(probe);
        var driver = new PipelinedDriver(target.Protocol, target.Host, target.Port);
        DriverRunResult run;
        try
        {
            run = await driver.RunAsync(requests, sequences, options.Pipeline, options.Warmup, options.Duration,
                options.RequestsPerConnection, options.DrainTimeout, cpu.Open);
        }
        catch (Exception e) when (e is SocketException or IOException or InvalidDataException or OperationCanceledException)
        {
            // The target went away between rounds: record the failure and carry on with the others.
            cpu.Open();
            run = new DriverRunResult(TimeSpan.Zero, 0, 0, 0, new LongHistogram(ConnectionResult.HighestTrackableMicros, 3), [e]);
        }
        return new RoundResult(round, slot, run, cpu.Close());
    }

    private static void PrintRound(RoundResult result, Target target, int rounds)
    {
        DriverRunResult run = result.Run;
        string latency = run.Latency.TotalCount > 0
            ? $"p50 {run.Latency.GetValueAtPercentile(50),7:N0}  p99 {run.Latency.GetValueAtPercentile(99),7:N0}  max {run.Latency.GetMaxValue(),8:N0} us"
            : "no answered requests";
        string cpu = result.Cpu.Server is { } server && result.Cpu.Wall > TimeSpan.Zero ? $"  srv cpu {server / result.Cpu.Wall * 100,4:0}%" : "";
        string failures = run.Failures.Count > 0 ? $"  {run.Failures.Count} connection(s) failed: {run.Failures[0].Message}" : "";
        Console.WriteLine($"   round {result.Round}/{rounds}  {target.Name,-9} {run.Throughput,10:N0} req/s  {latency}  errors {run.Errors:N0}  not found {run.NotFound:N0}{cpu}{failures}");
    }

    /// <summary>The encoded requests for the operations <paramref name="scenario"/> uses, built once per target and kept for later scenarios.</summary>
    private static EncodedRequests?[] RequestsFor(Target target, Scenario scenario, int profiles, Dictionary<(string, Operation), EncodedRequests> cache)
    {
        var requests = new EncodedRequests?[2];
        foreach (Operation operation in new[] { Operation.Lookup, Operation.Track })
        {
            if (!scenario.Uses(operation))
                continue;
            if (!cache.TryGetValue((target.Name, operation), out EncodedRequests? encoded))
                cache[(target.Name, operation)] = encoded = EncodedRequests.Build(target.Protocol, operation, profiles);
            requests[(int)operation] = encoded;
        }
        return requests;
    }

    private static async Task<LoadOutcome> LoadAsync(Target target, CompareOptions options, ErrorLog errors)
    {
        if (target.Store == "cdp")
        {
            // Cdp is loaded over its binary protocol even when only cdp-http is measured: both reach the same store.
            return await CdpProfileLoader.LoadAsync(target.Host, options.CdpPort, options.Profiles, options.LoadConnections,
                options.LoadPipeline, TimeSpan.FromSeconds(30), errors);
        }
        return await RespProfileLoader.LoadAsync(target.Store, target.Host, target.Port, options.Profiles, options.LoadConnections, options.LoadPipeline, errors);
    }

    /// <summary>Connects once and runs the handshake; null when that worked, otherwise why not.</summary>
    private static async Task<string?> ProbeAsync(Target target)
    {
        try
        {
            Socket[] sockets = await new PipelinedDriver(target.Protocol, target.Host, target.Port).ConnectAsync(1, TimeSpan.FromSeconds(5));
            foreach (Socket socket in sockets)
                socket.Dispose();
            return null;
        }
        catch (Exception e) when (e is SocketException or IOException or InvalidDataException or OperationCanceledException)
        {
            return e.Message;
        }
    }

    private static bool IsLocal(string host)
        => host == "localhost" || (IPAddress.TryParse(host, out IPAddress? address) && IPAddress.IsLoopback(address));
}
