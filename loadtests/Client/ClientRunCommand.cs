using System.Diagnostics;
using System.Reflection;
using Cdp.Client;
using Cdp.LoadTests;
using Cdp.Protocol;

// Reproducible first: the command as it would be typed, then what the process really got.
string command = "dotnet run -c Release --project loadtests -- " + string.Join(' ', args.Select(Quote));
Console.WriteLine($"# command: {command}");
Console.WriteLine($"# process: {Environment.CommandLine}");

LoadTestOptions options;
try
{
    options = LoadTestOptions.Parse(args);
}
catch (FormatException e)
{
    if (e.Message.Length > 0)
        Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(LoadTestOptions.Usage);
    return 2;
}
Console.WriteLine($"# settings: {options}");
Console.WriteLine($"# runtime: {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}, {Environment.ProcessorCount} processors, server GC {System.Runtime.GCSettings.IsServerGC}");
if (Assembly.GetExecutingAssembly().GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled == true)
    Console.WriteLine("# WARNING: Debug build; numbers are not representative. Use -c Release.");

var errors = new ErrorLog();
DateTimeOffset startedAt = DateTimeOffset.UtcNow;
(TimeSpan Elapsed, long Failed)? load = null;
try
{
    if (options.Load)
    {
        Console.WriteLine($"loading {options.Profiles:N0} profiles over {options.LoadConnections} connections x {options.LoadPipeline} in flight...");
        var loaded = await ProfileLoader.LoadAsync(options, errors);
        load = loaded;
        Console.WriteLine($"loaded     {options.Profiles:N0} profiles in {loaded.Elapsed.TotalSeconds:0.00} s = {options.Profiles / loaded.Elapsed.TotalSeconds:N0} writes/s (failed {loaded.Failed:N0})");
    }

    var clients = await Task.WhenAll(Enumerable.Range(0, options.Connections).Select(_ => CdpClient.ConnectAsync(new CdpClientOptions
    {
        Host = options.Host,
        Port = options.Port,
        PoolSize = 1,
        RequestTimeout = options.Timeout,
        ClientName = "Cdp.LoadTests",
    })));
    try
    {
        var runner = new ClosedLoopRunner(clients, options.Pipeline, CreateOperation(options));
        if (options.Warmup > TimeSpan.Zero)
        {
            Console.WriteLine($"warming up for {options.Warmup.TotalSeconds:0.#} s...");
            await new ClosedLoopRunner(clients, options.Pipeline, CreateOperation(options)).RunAsync(options.Warmup, null, reportProgress: false);
        }
        Console.WriteLine($"measuring {options.Scenario}: {options.Connections} connections x {options.Pipeline} in flight, " +
                          $"up to {options.Duration.TotalSeconds:0.#} s{(options.Requests is { } n ? $" or {n:N0} requests" : "")}...");
        RunResult result = await runner.RunAsync(options.Duration, options.Requests, reportProgress: true);

        ResultReport.Print(result, runner.Errors);
        if (options.Scenario == "lookup" && result.NotFound > 0)
            Console.WriteLine($"note       {result.NotFound:N0} lookups found no profile; run once with --load (and the same --profiles) first.");
        string path = ResultReport.Write(options.OutputFolder ?? DefaultResultsFolder(), command, options, startedAt, result, runner.Errors, load);
        Console.WriteLine($"results    {path}");
        return result.Errors == 0 && (load?.Failed ?? 0) == 0 ? 0 : 1;
    }
    finally
    {
        foreach (CdpClient client in clients)
            await client.DisposeAsync();
    }
}
catch (CdpConnectionException e)
{
    Console.Error.WriteLine($"cannot reach the Cdp server at {options.Host}:{options.Port}: {e.Message}");
    foreach (var (kind, count) in errors.Top(5))
        Console.Error.WriteLine($"error      {count:N0} x {kind}");
    return 3;
}

static Func<CdpClient, Task<Outcome>> CreateOperation(LoadTestOptions options)
{
    if (options.Scenario == "ping")
    {
        return static async client =>
        {
            await client.PingAsync().ConfigureAwait(false);
            return Outcome.Ok;
        };
    }

    int profiles = options.Profiles;
    if (options.Typed)
    {
        return async client =>
        {
            Profile? profile = await client.GetProfileAsync("email", ProfileLoader.Email(Random.Shared.Next(profiles))).ConfigureAwait(false);
            return profile is null ? Outcome.NotFound : Outcome.Ok;
        };
    }

    // Bodies are encoded once so the loop measures the client transport and the server, not MessagePack encoding.
    byte[][] bodies = new byte[profiles][];
    for (int i = 0; i < bodies.Length; i++)
        bodies[i] = RequestEncoder.EncodeGetProfile("email", ProfileLoader.Email(i));
    return async client =>
    {
        RawResponse response = await client.SendAsync(Opcode.GetProfile, bodies[Random.Shared.Next(bodies.Length)]).ConfigureAwait(false);
        response.ThrowIfError();
        return response.Status == Status.NotFound ? Outcome.NotFound : Outcome.Ok;
    };
}

static string DefaultResultsFolder()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "Cdp.sln")))
            return Path.Combine(dir.FullName, "loadtests", "results");
    }
    return Path.Combine(Environment.CurrentDirectory, "results");
}

static string Quote(string arg)
    => arg.Length > 0 && arg.All(ch => char.IsAsciiLetterOrDigit(ch) || "-_.:/=@,".Contains(ch)) ? arg : "'" + arg.Replace("'", "'\\''") + "'";
