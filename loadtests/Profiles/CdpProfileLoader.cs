using System.Diagnostics;
using Cdp.Client;

namespace Cdp.LoadTests.Profiles;

/// <summary>Fills a Cdp server with the <see cref="SampleProfile"/> profiles through Cdp.Client's Identify.</summary>
internal static class CdpProfileLoader
{
    public static IdentifyRequest CreateRequest(int index) => new()
    {
        Identifiers = new Dictionary<string, string> { ["email"] = SampleProfile.Email(index), ["user_id"] = SampleProfile.UserId(index) },
        Traits = SampleProfile.Traits(index),
    };

    /// <summary>Writes profiles 0..count-1 over <paramref name="connections"/> connections with <paramref name="pipeline"/> Identify calls in flight on each.</summary>
    /// <exception cref="CdpConnectionException">The server cannot be reached.</exception>
    public static async Task<LoadOutcome> LoadAsync(string host, int port, int count, int connections, int pipeline, TimeSpan timeout, ErrorLog errors)
    {
        await using CdpClient client = await CdpClient.ConnectAsync(new CdpClientOptions
        {
            Host = host,
            Port = port,
            PoolSize = connections,
            RequestTimeout = timeout,
            ClientName = "Cdp.LoadTests/load",
        });

        int next = -1;
        long failed = 0;
        var start = Stopwatch.GetTimestamp();
        async Task WorkerAsync()
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < count)
            {
                try
                {
                    await client.IdentifyAsync(CreateRequest(index)).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is CdpException or CdpConnectionException or TimeoutException)
                {
                    errors.Add(ex);
                    Interlocked.Increment(ref failed);
                }
            }
        }

        var workers = Enumerable.Range(0, connections * pipeline).Select(_ => Task.Run(WorkerAsync));
        await Task.WhenAll(workers).ConfigureAwait(false);
        return new LoadOutcome($"cdp {host}:{port}", count, Stopwatch.GetElapsedTime(start), failed);
    }
}
