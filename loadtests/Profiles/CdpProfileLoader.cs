using System.Diagnostics;
using Cdp.Client;

namespace Cdp.LoadTests;

/// <summary>
/// Writes the profiles the lookup scenario reads: <c>user{i}@example.com</c> with about twenty traits of every value
/// type, so GetProfile returns a realistically sized, mixed body.
/// </summary>
internal static class ProfileLoader
{
    private static readonly string[] Plans = ["free", "starter", "pro", "enterprise"];
    private static readonly string[] Countries = ["DE", "FR", "NL", "US", "GB", "PL", "SE"];
    private static readonly string[] Cities = ["Kiel", "Paris", "Utrecht", "Austin", "Leeds", "Gdansk", "Malmo"];

    public static string Email(int index) => $"user{index}@example.com";

    public static IdentifyRequest CreateRequest(int index)
    {
        // Derived from the index, not random, so repeated loads write the same data.
        var since = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(index * 7L % 2_000_000);
        return new IdentifyRequest
        {
            Identifiers = new Dictionary<string, string> { ["email"] = Email(index), ["user_id"] = "u" + index },
            Traits = new Dictionary<string, object?>
            {
                ["name"] = $"User {index}",
                ["plan"] = Plans[index % Plans.Length],
                ["seats"] = 1 + index % 250,
                ["mrr"] = Math.Round(9.99 * (1 + index % 40), 2),
                ["vip"] = index % 17 == 0,
                ["country"] = Countries[index % Countries.Length],
                ["city"] = Cities[index % Cities.Length],
                ["signupAt"] = since,
                ["lastSeenAt"] = since.AddDays(index % 400).AddMilliseconds(index % 1000),
                ["tags"] = new[] { "beta", index % 2 == 0 ? "even" : "odd", "cohort-" + index % 12 },
                ["score"] = index % 1000 / 10.0,
                ["age"] = 18 + index % 60,
                ["locale"] = index % 3 == 0 ? "de-DE" : "en-US",
                ["newsletter"] = index % 4 != 0,
                ["referrer"] = index % 5 == 0 ? null : "https://example.com/r/" + index % 97,
                ["company"] = new Dictionary<string, object?> { ["name"] = "Company " + index % 500, ["size"] = 10 + index % 5000 },
                ["lifetimeValue"] = index * 1.37 % 10_000,
                ["orders"] = index % 90,
                ["segment"] = "segment-" + index % 20,
                ["device"] = index % 2 == 0 ? "ios" : "android",
            },
        };
    }

    /// <summary>Writes profiles 0..count-1 with <paramref name="pipeline"/> Identify calls in flight per connection.</summary>
    public static async Task<(TimeSpan Elapsed, long Failed)> LoadAsync(LoadTestOptions options, ErrorLog errors)
    {
        await using CdpClient client = await CdpClient.ConnectAsync(new CdpClientOptions
        {
            Host = options.Host,
            Port = options.Port,
            PoolSize = options.LoadConnections,
            RequestTimeout = options.Timeout,
            ClientName = "Cdp.LoadTests/load",
        });

        int next = -1;
        long failed = 0;
        var start = Stopwatch.GetTimestamp();
        async Task WorkerAsync()
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < options.Profiles)
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

        var workers = Enumerable.Range(0, options.LoadConnections * options.LoadPipeline).Select(_ => Task.Run(WorkerAsync));
        await Task.WhenAll(workers).ConfigureAwait(false);
        return (Stopwatch.GetElapsedTime(start), failed);
    }
}
