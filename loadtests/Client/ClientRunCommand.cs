using Cdp.Client;
using Cdp.LoadTests.Profiles;
using Cdp.Protocol;

namespace Cdp.LoadTests.Client;

/// <summary>
/// The <c>lookup</c> and <c>ping</c> commands: one Cdp server driven through <see cref="CdpClient"/>, so the figures
/// include the .NET client's own costs (compare with <c>compare</c>, whose raw socket driver has none of them).
/// </summary>
internal static class ClientRunCommand
{
    public static async Task<int> RunAsync(string[] args, string command)
    {
        ClientRunOptions options;
        try
        {
            options = ClientRunOptions.Parse(args);
        }
        catch (FormatException e)
        {
            if (e.Message.Length > 0)
                Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(ClientRunOptions.Usage);
            return 2;
        }
        Console.WriteLine($"# settings: {options}");
        Console.WriteLine($"# runtime: {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}, {Environment.ProcessorCount} processors, server GC {System.Runtime.GCSettings.IsServerGC}");

        var errors = new ErrorLog();
        DateTimeOffset startedAt = DateTimeOffset.UtcNow;
        LoadOutcome? load = null;
        try
        {
            if (options.Load)
            {
                Console.WriteLine($"loading {options.Profiles:N0} profiles over {options.LoadConnections} connections x {options.LoadPipeline} in flight...");
                load = await CdpProfileLoader.LoadAsync(options.Host, options.Port, options.Profiles, options.LoadConnections, options.LoadPipeline, options.Timeout, errors);
                Console.WriteLine($"loaded     {load}");
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
                var runner = new ClientClosedLoopRunner(clients, options.Pipeline, CreateOperation(options));
                if (options.Warmup > TimeSpan.Zero)
                {
                    Console.WriteLine($"warming up for {options.Warmup.TotalSeconds:0.#} s...");
                    await new ClientClosedLoopRunner(clients, options.Pipeline, CreateOperation(options)).RunAsync(options.Warmup, null, reportProgress: false);
                }
                Console.WriteLine($"measuring {options.Scenario}: {options.Connections} connections x {options.Pipeline} in flight, " +
                                  $"up to {options.Duration.TotalSeconds:0.#} s{(options.Requests is { } n ? $" or {n:N0} requests" : "")}...");
                ClientRunResult result = await runner.RunAsync(options.Duration, options.Requests, reportProgress: true);

                ClientRunReport.Print(result, runner.Errors);
                if (options.Scenario == "lookup" && result.NotFound > 0)
                    Console.WriteLine($"note       {result.NotFound:N0} lookups found no profile; run once with --load (and the same --profiles) first.");
                string path = ClientRunReport.Write(options.OutputFolder ?? ResultsFolder.Default(), command, options, startedAt, result, runner.Errors, load);
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
    }

    private static Func<CdpClient, Task<Outcome>> CreateOperation(ClientRunOptions options)
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
                Profile? profile = await client.GetProfileAsync("email", SampleProfile.Email(Random.Shared.Next(profiles))).ConfigureAwait(false);
                return profile is null ? Outcome.NotFound : Outcome.Ok;
            };
        }

        // Bodies are encoded once so the loop measures the client transport and the server, not MessagePack encoding.
        byte[][] bodies = new byte[profiles][];
        for (int i = 0; i < bodies.Length; i++)
            bodies[i] = RequestEncoder.EncodeGetProfile("email", SampleProfile.Email(i));
        return async client =>
        {
            RawResponse response = await client.SendAsync(Opcode.GetProfile, bodies[Random.Shared.Next(bodies.Length)]).ConfigureAwait(false);
            response.ThrowIfError();
            return response.Status == Status.NotFound ? Outcome.NotFound : Outcome.Ok;
        };
    }
}
