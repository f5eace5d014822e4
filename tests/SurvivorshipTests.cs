using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Per-trait survivorship rules decide which value a profile keeps, the same way for a write and
/// for the merge of two profiles, and the journal replays them to the same result.
/// </summary>
public sealed class SurvivorshipTests
{
    static readonly (string, string)[] Settings =
    [
        ("Traits:Survivorship:plan", "source:crm,shop,web"),
        ("Traits:Survivorship:first_touch", "first"),
        ("Traits:Survivorship:score", "max"),
        ("Traits:Survivorship:lowest_price", "min"),
        ("Traits:Survivorship:tags", "union"),
    ];

    static async Task Post(TestServer s, string path, object body)
    {
        using var r = await s.Http.PostAsJsonAsync(path, body);
        Assert.True(r.StatusCode == HttpStatusCode.OK, await r.Content.ReadAsStringAsync());
    }

    static async Task<JsonElement> Traits(TestServer s, string path)
        => JsonDocument.Parse(await s.Http.GetStringAsync("/v1/profiles/" + path)).RootElement.GetProperty("traits");

    [Fact]
    public async Task Each_trait_keeps_the_value_its_rule_picks_on_writes_on_merges_and_after_replay()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await using (var s = await TestServer.StartAsync(dir, Settings))
            {
                await Post(s, "/v1/identify", new
                {
                    userId = "u1", source = "crm", timestamp = "2026-03-01T00:00:00Z",
                    traits = new { plan = "gold", first_touch = "google", score = 5, lowest_price = 5.5, tags = new[] { "a", "b" }, city = "Ulm" },
                });
                await Post(s, "/v1/identify", new
                {
                    userId = "u1", source = "web", timestamp = "2026-03-02T00:00:00Z",
                    traits = new { plan = "free", first_touch = "bing", score = 3, lowest_price = 3.25, tags = new[] { "b", "c" }, city = "Kiel" },
                });
                var t = await Traits(s, "user_id/u1");
                Assert.Equal("gold", t.GetProperty("plan").GetString());          // crm outranks web
                Assert.Equal("google", t.GetProperty("first_touch").GetString()); // first seen
                Assert.Equal(5, t.GetProperty("score").GetInt32());               // max
                Assert.Equal(3.25, t.GetProperty("lowest_price").GetDouble());    // min
                Assert.Equal(["a", "b", "c"], t.GetProperty("tags").EnumerateArray().Select(x => x.GetString()));
                Assert.Equal("Kiel", t.GetProperty("city").GetString());          // default: latest

                // A second profile, then a write that merges it in: the same rules decide.
                await Post(s, "/v1/identify", new
                {
                    anonymousId = "b1", source = "shop", timestamp = "2020-01-01T00:00:00Z",
                    traits = new { plan = "silver", first_touch = "yahoo", score = 9, lowest_price = 4, tags = new[] { "z" }, city = "Bonn" },
                });
                await Post(s, "/v1/identify", new { userId = "u1", anonymousId = "b1" });
                t = await Traits(s, "anonymous_id/b1");
                Assert.Equal("gold", t.GetProperty("plan").GetString());          // crm still outranks shop
                Assert.Equal("yahoo", t.GetProperty("first_touch").GetString());  // 2020 is earlier
                Assert.Equal(9, t.GetProperty("score").GetInt32());
                Assert.Equal(3.25, t.GetProperty("lowest_price").GetDouble());
                Assert.Equal(["a", "b", "c", "z"], t.GetProperty("tags").EnumerateArray().Select(x => x.GetString()).Order());
                Assert.Equal("Kiel", t.GetProperty("city").GetString());          // Bonn's event time is older
            }
            File.Delete(Path.Combine(dir, "checkpoints", "cdp-checkpoint.json"));
            await using (var replayed = await TestServer.StartAsync(dir, Settings))
            {
                var t = await Traits(replayed, "user_id/u1");
                Assert.Equal("gold", t.GetProperty("plan").GetString());
                Assert.Equal("yahoo", t.GetProperty("first_touch").GetString());
                Assert.Equal(9, t.GetProperty("score").GetInt32());
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task An_unknown_rule_stops_the_server_from_starting_with_the_setting_named()
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(null, ("Traits:Survivorship:plan", "oldest")));
        Assert.Contains("Traits:Survivorship:plan", e.ToString());
        Assert.Contains("'oldest' is not a survivorship rule", e.ToString());
        e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(null, ("Traits:Survivorship:plan", "source:")));
        Assert.Contains("needs the sources in order", e.ToString());
    }
}
