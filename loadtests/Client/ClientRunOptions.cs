using System.Globalization;

namespace Cdp.LoadTests.Client;

/// <summary>Settings of the <c>lookup</c> and <c>ping</c> commands (one Cdp server through Cdp.Client).</summary>
internal sealed class ClientRunOptions
{
    public const string Usage = """
        usage: dotnet run -c Release --project loadtests -- lookup|ping [options]

        One Cdp server through Cdp.Client (the .NET client's costs included); see `compare` for the raw-socket
        driver that measures Cdp next to Redis and Garnet.

        scenarios:
          lookup   GetProfile by e-mail with uniformly random keys (user{i}@example.com, i < --profiles)
          ping     Ping only: the transport and framing without any storage work

        options:
          --host <name>            server host (127.0.0.1)
          --port <n>               binary protocol port (7070)
          --connections <n>        TCP connections, each its own CdpClient with PoolSize 1 (50)
          --pipeline <n>           requests each connection keeps in flight (1)
          --duration <s>           measured seconds; default 10, or a 300 s cap when --requests is given
          --requests <n>           stop after this many measured requests (whichever limit comes first)
          --warmup <s>             unmeasured seconds before measuring (1)
          --profiles <n>           key space for lookup and --load (10000)
          --load                   first write --profiles profiles via Identify (~20 traits each)
          --load-connections <n>   connections used by --load (4)
          --load-pipeline <n>      requests in flight per load connection (32)
          --typed                  lookup through GetProfileAsync (decodes profiles) instead of SendAsync with pre-encoded bodies
          --timeout <ms>           per-request timeout (5000)
          --out <dir>              folder for the JSON result (loadtests/results)
        """;

    public required string Scenario { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 7070;
    public int Connections { get; init; } = 50;
    public int Pipeline { get; init; } = 1;
    public TimeSpan Duration { get; init; }
    public long? Requests { get; init; }
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(1);
    public int Profiles { get; init; } = 10_000;
    public bool Load { get; init; }
    public int LoadConnections { get; init; } = 4;
    public int LoadPipeline { get; init; } = 32;
    public bool Typed { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
    public string? OutputFolder { get; init; }

    /// <summary>Parses the arguments; throws <see cref="FormatException"/> with a message fit for the console.</summary>
    public static ClientRunOptions Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0 || args[0].StartsWith('-'))
            throw new FormatException("The first argument must be a scenario: lookup or ping.");
        string scenario = args[0];
        if (scenario is not ("lookup" or "ping"))
            throw new FormatException($"Unknown scenario '{scenario}'; expected lookup or ping.");

        string host = "127.0.0.1", outputFolder = "";
        int port = 7070, connections = 50, pipeline = 1, profiles = 10_000, loadConnections = 4, loadPipeline = 32;
        double? durationSeconds = null;
        double warmupSeconds = 1, timeoutMs = 5000;
        long? requests = null;
        bool load = false, typed = false;

        for (int i = 1; i < args.Count; i++)
        {
            string name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new FormatException($"{name} needs a value.");
            switch (name)
            {
                case "--host": host = Value(); break;
                case "--port": port = OptionValues.Int(name, Value(), 1, 65535); break;
                case "--connections": connections = OptionValues.Int(name, Value(), 1, 10_000); break;
                case "--pipeline": pipeline = OptionValues.Int(name, Value(), 1, 100_000); break;
                case "--duration": durationSeconds = OptionValues.Number(name, Value(), 0.1); break;
                case "--requests": requests = OptionValues.Int(name, Value(), 1, long.MaxValue); break;
                case "--warmup": warmupSeconds = OptionValues.Number(name, Value(), 0); break;
                case "--profiles": profiles = OptionValues.Int(name, Value(), 1, 100_000_000); break;
                case "--load": load = true; break;
                case "--load-connections": loadConnections = OptionValues.Int(name, Value(), 1, 1_000); break;
                case "--load-pipeline": loadPipeline = OptionValues.Int(name, Value(), 1, 10_000); break;
                case "--typed": typed = true; break;
                case "--timeout": timeoutMs = OptionValues.Number(name, Value(), 1); break;
                case "--out": outputFolder = Value(); break;
                case "--help" or "-h": throw new FormatException("");
                default: throw new FormatException($"Unknown option '{name}'.");
            }
        }

        // Always bounded: an explicit request budget still gets a time cap so a stalled server cannot hang the run.
        TimeSpan duration = TimeSpan.FromSeconds(durationSeconds ?? (requests is null ? 10 : 300));
        return new ClientRunOptions
        {
            Scenario = scenario,
            Host = host,
            Port = port,
            Connections = connections,
            Pipeline = pipeline,
            Duration = duration,
            Requests = requests,
            Warmup = TimeSpan.FromSeconds(warmupSeconds),
            Profiles = profiles,
            Load = load,
            LoadConnections = loadConnections,
            LoadPipeline = loadPipeline,
            Typed = typed,
            Timeout = TimeSpan.FromMilliseconds(timeoutMs),
            OutputFolder = outputFolder.Length == 0 ? null : outputFolder,
        };
    }

    /// <summary>The effective settings, defaults included, as one line.</summary>
    public override string ToString()
        => $"scenario={Scenario} host={Host} port={Port} connections={Connections} pipeline={Pipeline} " +
           $"duration={Duration.TotalSeconds:0.###}s requests={(Requests?.ToString(CultureInfo.InvariantCulture) ?? "unbounded")} warmup={Warmup.TotalSeconds:0.###}s " +
           $"profiles={Profiles} load={Load} typed={Typed} timeout={Timeout.TotalMilliseconds:0}ms";
}
