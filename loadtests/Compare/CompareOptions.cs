using System.Globalization;
using Cdp.LoadTests.Workload;

namespace Cdp.LoadTests.Compare;

/// <summary>Settings of the <c>compare</c> and <c>load</c> commands.</summary>
internal sealed class CompareOptions
{
    public const string Usage = """
        usage: dotnet run -c Release --project loadtests -- compare [options]
               dotnet run -c Release --project loadtests -- load [--targets ...] [--profiles n]

        compare measures the targets one after another, round-robin, --rounds times each, with the same raw-socket
        closed-loop driver and the same pre-drawn request sequence for every target, then prints one table per
        scenario and writes it as JSON to loadtests/results/. load only fills the targets.

        targets and endpoints:
          --targets <list>         any of cdp, cdp-http, redis, garnet (all four)
          --host <name>            host of every target (127.0.0.1)
          --cdp-port <n>           Cdp binary protocol (7070); also used to load Cdp for cdp-http
          --cdp-http-port <n>      Cdp HTTP (8080)
          --redis-port <n>         Redis (6379)
          --garnet-port <n>        Garnet (6380)

        workload:
          --scenarios <list>       any of lookup, track, mixed (lookup); mixed = 90% lookup / 10% track
          --profiles <n>           key space: user{i}@example.com, i < n (100000)
          --keys uniform|zipf      key distribution (uniform)
          --zipf-theta <x>         skew of zipf, 0 < x < 1 (0.99)
          --seed <n>               seed of the request sequences (42); the same for every target
          --load                   fill every selected target with --profiles profiles first

        load:
          --load-connections <n>   connections per store while loading (4)
          --load-pipeline <n>      writes in flight per loading connection (64)

        measurement (per target and round):
          --connections <n>        sockets (50)
          --pipeline <n>           operations in flight per socket (1)
          --rounds <n>             rounds; each runs every target once, in rotated order (3)
          --duration <s>           measured seconds (5; a 60 s cap with --requests alone; at most 600)
          --requests <n>           stop a round after this many measured operations (split over the sockets)
          --warmup <s>             unmeasured seconds before each measurement (1)
          --drain-timeout <s>      how long replies may lag after sending stopped before the round is cut (10)
          --settle <s>             before each round, wait up to this long for every local server to go idle (20; 0: off)
          --baseline <target>      ratios are to this target (redis, or the first target without redis)
          --out <dir>              folder for the JSON result (loadtests/results)
        """;

    /// <summary><c>compare</c>, or <c>load</c> (fill the targets and stop).</summary>
    public required string Verb { get; init; }
    public IReadOnlyList<string> Targets { get; init; } = Target.Names;
    public string Host { get; init; } = "127.0.0.1";
    public int CdpPort { get; init; } = 7070;
    public int CdpHttpPort { get; init; } = 8080;
    public int RedisPort { get; init; } = 6379;
    public int GarnetPort { get; init; } = 6380;
    public IReadOnlyList<Scenario> Scenarios { get; init; } = [Scenario.Lookup];
    public int Profiles { get; init; } = 100_000;
    public KeyDistribution Keys { get; init; } = KeyDistribution.Uniform;
    public double ZipfTheta { get; init; } = 0.99;
    public int Seed { get; init; } = 42;
    public bool Load { get; init; }
    public int LoadConnections { get; init; } = 4;
    public int LoadPipeline { get; init; } = 64;
    public int Connections { get; init; } = 50;
    public int Pipeline { get; init; } = 1;
    public int Rounds { get; init; } = 3;
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(5);
    public long? Requests { get; init; }
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Longest wait, before each round, for every local server to go idle (<see cref="ServerSettle"/>); zero turns it off.
    /// </summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(20);
    public required string Baseline { get; init; }
    public string? OutputFolder { get; init; }

    /// <summary>The operation budget of one socket in one round, when --requests is given.</summary>
    public long? RequestsPerConnection => Requests is { } total ? (total + Connections - 1) / Connections : null;

    /// <summary>An upper bound of the measuring time, for the console before starting.</summary>
    public TimeSpan LongestRun => (Warmup + Duration) * (Scenarios.Count * Rounds * Targets.Count);

    /// <summary>Parses the arguments after the command name; throws <see cref="FormatException"/> with a message fit for the console.</summary>
    public static CompareOptions Parse(IReadOnlyList<string> args)
    {
        string verb = args[0];
        IReadOnlyList<string> targets = Target.Names;
        IReadOnlyList<Scenario> scenarios = [Scenario.Lookup];
        string host = "127.0.0.1", outputFolder = "";
        string? baseline = null;
        int cdpPort = 7070, cdpHttpPort = 8080, redisPort = 6379, garnetPort = 6380;
        int profiles = 100_000, seed = 42, loadConnections = 4, loadPipeline = 64, connections = 50, pipeline = 1, rounds = 3;
        var keys = KeyDistribution.Uniform;
        double zipfTheta = 0.99, warmup = 1, drainTimeout = 10, settle = 20;
        double? duration = null;
        long? requests = null;
        bool load = verb == "load";

        for (int i = 1; i < args.Count; i++)
        {
            string name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new FormatException($"{name} needs a value.");
            switch (name)
            {
                case "--targets": targets = OptionValues.List(name, Value(), Target.Names.ToArray()); break;
                case "--host": host = Value(); break;
                case "--cdp-port": cdpPort = OptionValues.Int(name, Value(), 1, 65535); break;
                case "--cdp-http-port": cdpHttpPort = OptionValues.Int(name, Value(), 1, 65535); break;
                case "--redis-port": redisPort = OptionValues.Int(name, Value(), 1, 65535); break;
                case "--garnet-port": garnetPort = OptionValues.Int(name, Value(), 1, 65535); break;
                case "--scenarios": scenarios = [.. OptionValues.List(name, Value(), Scenario.All.Select(s => s.Name).ToArray()).Select(Scenario.Named)]; break;
                case "--profiles": profiles = OptionValues.Int(name, Value(), 1, 10_000_000); break;
                case "--keys":
                    keys = Value() switch
                    {
                        "uniform" => KeyDistribution.Uniform,
                        "zipf" => KeyDistribution.Zipf,
                        var other => throw new FormatException($"--keys must be uniform or zipf, not '{other}'."),
                    };
                    break;
                case "--zipf-theta": zipfTheta = OptionValues.Number(name, Value(), 0.01, 0.999); break;
                case "--seed": seed = OptionValues.Int(name, Value(), 0, int.MaxValue); break;
                case "--load": load = true; break;
                case "--load-connections": loadConnections = OptionValues.Int(name, Value(), 1, 256); break;
                case "--load-pipeline": loadPipeline = OptionValues.Int(name, Value(), 1, 4096); break;
                case "--connections": connections = OptionValues.Int(name, Value(), 1, 5_000); break;
                case "--pipeline": pipeline = OptionValues.Int(name, Value(), 1, 4096); break;
                case "--rounds": rounds = OptionValues.Int(name, Value(), 1, 50); break;
                case "--duration": duration = OptionValues.Number(name, Value(), 0.1, 600); break;
                case "--requests": requests = OptionValues.Int(name, Value(), 1, 1_000_000_000_000L); break;
                case "--warmup": warmup = OptionValues.Number(name, Value(), 0, 600); break;
                case "--drain-timeout": drainTimeout = OptionValues.Number(name, Value(), 0.1, 600); break;
                case "--settle": settle = OptionValues.Number(name, Value(), 0, 600); break;
                case "--baseline": baseline = Value(); break;
                case "--out": outputFolder = Value(); break;
                case "--help" or "-h": throw new FormatException("");
                default: throw new FormatException($"Unknown option '{name}'.");
            }
        }

        if (baseline is not null && !targets.Contains(baseline))
            throw new FormatException($"--baseline {baseline} is not one of the --targets ({string.Join(",", targets)}).");
        if (requests is { } budget && budget < connections)
            throw new FormatException($"--requests {budget} is fewer than one per connection ({connections}).");

        return new CompareOptions
        {
            Verb = verb,
            Targets = targets,
            Host = host,
            CdpPort = cdpPort,
            CdpHttpPort = cdpHttpPort,
            RedisPort = redisPort,
            GarnetPort = garnetPort,
            Scenarios = scenarios,
            Profiles = profiles,
            Keys = keys,
            ZipfTheta = zipfTheta,
            Seed = seed,
            Load = load,
            LoadConnections = loadConnections,
            LoadPipeline = loadPipeline,
            Connections = connections,
            Pipeline = pipeline,
            Rounds = rounds,
            // Always bounded: a request budget alone still gets a time cap, so a stalled server cannot hang the run.
            Duration = TimeSpan.FromSeconds(duration ?? (requests is null ? 5 : 60)),
            Requests = requests,
            Warmup = TimeSpan.FromSeconds(warmup),
            DrainTimeout = TimeSpan.FromSeconds(drainTimeout),
            Settle = TimeSpan.FromSeconds(settle),
            Baseline = baseline ?? (targets.Contains("redis") ? "redis" : targets[0]),
            OutputFolder = outputFolder.Length == 0 ? null : outputFolder,
        };
    }

    /// <summary>The effective settings, defaults included, as one line.</summary>
    public override string ToString()
        => string.Create(CultureInfo.InvariantCulture,
            $"targets={string.Join(",", Targets)} scenarios={string.Join(",", Scenarios.Select(s => s.Name))} profiles={Profiles} " +
            $"keys={(Keys == KeyDistribution.Zipf ? $"zipf(theta={ZipfTheta})" : "uniform")} seed={Seed} connections={Connections} pipeline={Pipeline} " +
            $"rounds={Rounds} duration={Duration.TotalSeconds}s requests={(Requests?.ToString(CultureInfo.InvariantCulture) ?? "unbounded")} " +
            $"warmup={Warmup.TotalSeconds}s drain-timeout={DrainTimeout.TotalSeconds}s settle={Settle.TotalSeconds}s baseline={Baseline} load={Load}");
}
