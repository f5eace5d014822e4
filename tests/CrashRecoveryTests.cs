using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Client;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// The durability promise end to end: the real server process takes 10,000 profiles through the
/// client and 1,000 over HTTP, is killed without a graceful shutdown right after the last
/// acknowledgement, restarts on the same data folder, and still has every acknowledged write.
/// </summary>
public sealed class CrashRecoveryTests
{
    [Fact]
    public async Task Every_acknowledged_write_survives_a_kill()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            int binaryPort;
            var first = await ServerProcess.StartAsync(dir, 0, "--Cdp:Store:CheckpointIntervalSeconds=1");
            binaryPort = first.BinaryPort;
            await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = binaryPort, PoolSize = 4, RequestTimeout = TimeSpan.FromSeconds(30) });
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{first.HttpPort}") };
            var ids = new string[10_000];
            using (first)
            {
                await Parallel.ForEachAsync(Enumerable.Range(0, 10_000), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, ct) =>
                {
                    var result = await client.IdentifyAsync(new IdentifyRequest
                    {
                        Identifiers = new Dictionary<string, string> { ["email"] = $"user{i}@crash.test" },
                        Traits = new Dictionary<string, object?> { ["n"] = (long)i, ["plan"] = i % 2 == 0 ? "pro" : "free" },
                    }, ct);
                    ids[i] = result.Id;
                });
                await Parallel.ForEachAsync(Enumerable.Range(0, 1_000), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
                {
                    using var response = await http.PostAsJsonAsync("/v1/track", new { userId = $"http-{i}", @event = "Signed Up", properties = new { n = i } }, ct);
                    response.EnsureSuccessStatusCode();
                });
                first.Kill();
            }
            Assert.Equal(10_000, ids.Distinct().Count());

            // Same binary port, so the client's own reconnect is exercised as well.
            using var second = await ServerProcess.StartAsync(dir, binaryPort);
            for (int i = 0; i < 10_000; i++)
            {
                var profile = await GetWithReconnectAsync(client, "email", $"USER{i}@crash.test");
                Assert.NotNull(profile);
                Assert.Equal(ids[i], profile.Id);
                Assert.Equal((long)i, profile.Traits["n"]);
            }
            for (int i = 0; i < 1_000; i++)
            {
                var profile = await client.GetProfileAsync("user_id", $"http-{i}");
                Assert.NotNull(profile);
                Assert.Equal(1, profile.Events["Signed Up"].Count);
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    static async Task<Profile?> GetWithReconnectAsync(CdpClient client, string type, string value)
    {
        // The first call after the restart may fail on the dead connection; the next one reconnects.
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return await client.GetProfileAsync(type, value);
            }
            catch (CdpConnectionException) when (attempt < 4)
            {
            }
        }
    }
}
