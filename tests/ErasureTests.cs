using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Client;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Erasure over HTTP against the real server: the person and every profile merged into them are
/// found by no identifier and no old id, leave their segments (pushed as exits), a write with one of
/// their identifiers starts a fresh profile, and a replay of the journal erases them again.
/// </summary>
public sealed class ErasureTests
{
    static readonly (string, string)[] Settings =
    [
        ("Traits:Declared:name", "string"),
        ("Identity:Rules:email:MaxValues", "5"),
        ("Store:CheckpointIntervalSeconds", "0"),
    ];

    static async Task Post(TestServer s, string path, object body)
    {
        using var r = await s.Http.PostAsJsonAsync(path, body);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    static async Task<HttpStatusCode> Status(TestServer s, string path)
    {
        using var r = await s.Http.GetAsync(path);
        return r.StatusCode;
    }

    [Fact]
    public async Task An_erased_person_is_gone_by_every_identifier_and_id_also_after_replay_and_starts_fresh()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            string survivorId, fragmentId;
            await using (var s = await TestServer.StartAsync(null, dir, Settings))
            {
                using (var r = await s.Http.PutAsJsonAsync("/v1/segments/named", new { rule = "exists(traits.name)" }))
                    Assert.Equal(HttpStatusCode.Created, r.StatusCode);
                await s.Engine.Segments.WaitForBackfillsAsync();
                await Post(s, "/v1/identify", new { userId = "zed-1", traits = new { name = "Zebulon Quarrington", email = "zebulon.q@example.org" }, messageId = "m-erase-1" });
                await Post(s, "/v1/track", new { anonymousId = "anon-zed", @event = "Page Viewed" });
                // The anonymous profile merges in through the shared e-mail.
                await Post(s, "/v1/identify", new { anonymousId = "anon-zed", traits = new { email = "zebulon.q@example.org" } });
                await Post(s, "/v1/identify", new { userId = "other", traits = new { name = "Someone Else" } });
                using (var p = await s.Http.GetAsync("/v1/profiles/user_id/zed-1"))
                    survivorId = (await p.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
                using (var p = await s.Http.GetAsync("/v1/profiles/anonymous_id/anon-zed"))
                    Assert.Equal(survivorId, (await p.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString());
                fragmentId = survivorId == "1" ? "2" : "1";
                await s.Engine.CheckpointAsync();

                await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort });
                await using var subscription = await client.SubscribeAsync(["named"]);
                using (var erase = await s.Http.DeleteAsync("/v1/profiles/email/zebulon.q@example.org"))
                {
                    Assert.Equal(HttpStatusCode.OK, erase.StatusCode);
                    var body = await erase.Content.ReadFromJsonAsync<JsonElement>();
                    Assert.Equal(survivorId, body.GetProperty("erased").GetString());
                    Assert.Equal(1, body.GetProperty("fragments").GetInt32());
                }
                var exit = await subscription.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Equal((survivorId, false, "erased"), (exit.ProfileId, exit.Entered, exit.Reason));

                await AssertGone(s, survivorId, fragmentId);
                using (var again = await s.Http.DeleteAsync("/v1/profiles/email/zebulon.q@example.org"))
                    Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
                Assert.Equal(HttpStatusCode.OK, await Status(s, "/v1/profiles/user_id/other"));
            }

            // Without the checkpoints the journal replays the person's writes, then the erasure.
            Directory.Delete(Path.Combine(dir, "checkpoints"), recursive: true);
            await using (var s = await TestServer.StartAsync(null, dir, Settings))
            {
                await AssertGone(s, survivorId, fragmentId);
                Assert.Equal(HttpStatusCode.OK, await Status(s, "/v1/profiles/user_id/other"));
                // Re-created: a fresh profile, nothing of the old one, and the old messageId is a new write.
                using (var r = await s.Http.PostAsJsonAsync("/v1/identify", new { userId = "zed-1", traits = new { email = "zebulon.q@example.org" }, messageId = "m-erase-1" }))
                {
                    var write = await r.Content.ReadFromJsonAsync<JsonElement>();
                    Assert.False(write.GetProperty("duplicate").GetBoolean());
                    Assert.True(write.GetProperty("created").GetBoolean());
                    Assert.NotEqual(survivorId, write.GetProperty("id").GetString());
                }
                using var fresh = await s.Http.GetAsync("/v1/profiles/user_id/zed-1");
                var profile = await fresh.Content.ReadFromJsonAsync<JsonElement>();
                Assert.False(profile.GetProperty("traits").TryGetProperty("name", out _));
                Assert.False(profile.GetProperty("identifiers").TryGetProperty("anonymous_id", out _));
                Assert.Empty(profile.GetProperty("segments").EnumerateArray());
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    static async Task AssertGone(TestServer s, string survivorId, string fragmentId)
    {
        foreach (var path in new[]
        {
            "/v1/profiles/email/zebulon.q@example.org", "/v1/profiles/user_id/zed-1", "/v1/profiles/anonymous_id/anon-zed",
            $"/v1/profiles/id/{survivorId}", $"/v1/profiles/id/{fragmentId}", "/v1/profiles/user_id/zed-1/export",
        })
            Assert.Equal(HttpStatusCode.NotFound, await Status(s, path));
        using var segment = await s.Http.GetAsync("/v1/segments/named");
        Assert.Equal(1, (await segment.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("members").GetInt64());
        var export = await s.Http.GetStringAsync("/v1/export");
        Assert.DoesNotContain("Zebulon", export);
        Assert.DoesNotContain("zebulon.q@example.org", export);
    }
}
