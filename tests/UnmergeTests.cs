using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Unmerge rebuilds both sides from the journal as if the wrong link had never been made: compared
/// with a second server that was sent the same writes without the link, on the same clock, both
/// profiles are equal in every trait (with provenance), event counter and computed value; and they
/// stay so across a restart from a checkpoint and across a full journal replay.
/// </summary>
public sealed class UnmergeTests
{
    static readonly (string, string)[] Settings =
    [
        ("ComputedTraits:orders:Function", "count"),
        ("ComputedTraits:orders:Event", "Order Completed"),
        ("ComputedTraits:orders_7d:Function", "count"),
        ("ComputedTraits:orders_7d:Event", "Order Completed"),
        ("ComputedTraits:orders_7d:Window", "7d"),
        ("ComputedTraits:revenue:Function", "sum"),
        ("ComputedTraits:revenue:Event", "Order Completed"),
        ("ComputedTraits:revenue:Property", "revenue"),
        ("ComputedTraits:last_city:Function", "last"),
        ("ComputedTraits:last_city:Event", "Order Completed"),
        ("ComputedTraits:last_city:Property", "city"),
    ];

    static DateTimeOffset Start => DateTimeOffset.Parse("2026-06-01T08:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Ann and Bob's writes; <paramref name="withWrongLink"/> adds Bob's e-mail to one of Ann's orders.</summary>
    static async Task<Dictionary<string, string>> Send(TestServer s, ManualClock clock, bool withWrongLink)
    {
        var ids = new Dictionary<string, string>();
        async Task Write(string route, object body, string? name = null)
        {
            clock.Advance(TimeSpan.FromHours(5));
            using var r = await s.Http.PostAsJsonAsync(route, body);
            var text = await r.Content.ReadAsStringAsync();
            Assert.True(r.StatusCode == HttpStatusCode.OK, text);
            if (name is not null)
                ids[name] = JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
        }
        await Write("/v1/identify", new { userId = "ann", traits = new { email = "ann@x.com", plan = "pro", city = "Ulm" }, source = "crm" }, "ann");
        await Write("/v1/identify", new { anonymousId = "c-bob", traits = new { email = "bob@x.com", city = "Kiel", plan = "free" }, source = "web" }, "bob");
        await Write("/v1/page", new { userId = "ann", anonymousId = "c-ann", name = "Home" });
        for (int i = 0; i < 2; i++)
            await Write("/v1/track", new { @event = "Order Completed", userId = "ann", properties = new { revenue = 10, city = "Ulm" } });
        for (int i = 0; i < 3; i++)
            await Write("/v1/track", new { @event = "Order Completed", anonymousId = "c-bob", properties = new { revenue = 7, city = "Kiel" } });
        // The wrong link: an order of Ann's that carried Bob's e-mail (a shared device, a typo in a form).
        if (withWrongLink)
            await Write("/v1/track", new { @event = "Order Completed", userId = "ann", context = new { traits = new { email = "bob@x.com" } }, properties = new { revenue = 100, city = "Bonn" } });
        else
            await Write("/v1/track", new { @event = "Order Completed", userId = "ann", properties = new { revenue = 100, city = "Bonn" } });
        // After the link, writes of either person land on the merged profile.
        await Write("/v1/track", new { @event = "Order Completed", anonymousId = "c-bob", properties = new { revenue = 7, city = "Kiel" } });
        await Write("/v1/identify", new { userId = "ann", traits = new { plan = "max" }, source = "app" });
        await Write("/v1/identify", new { anonymousId = "c-bob", traits = new { phoneModel = "x1" }, source = "app" });
        return ids;
    }

    static async Task<JsonObject> Profile(TestServer s, string path)
    {
        var p = JsonNode.Parse(await s.Http.GetStringAsync("/v1/profiles/" + path + "?provenance=true"))!.AsObject();
        p.Remove("id");
        return p;
    }

    static async Task<JsonObject[]> Sides(TestServer s) => [await Profile(s, "user_id/ann"), await Profile(s, "email/bob@x.com")];

    [Fact]
    public async Task Unmerge_rebuilds_both_profiles_exactly_as_if_the_wrong_link_had_never_been_made_and_survives_restarts()
    {
        var expectedClock = new ManualClock(Start);
        JsonObject[] expected;
        await using (var reference = await TestServer.StartAsync(expectedClock, null, Settings))
        {
            await Send(reference, expectedClock, withWrongLink: false);
            expected = await Sides(reference);
        }
        Assert.Equal(3, expected[0]["computed"]!["orders"]!.GetValue<int>());
        Assert.Equal(4, expected[1]["computed"]!["orders"]!.GetValue<int>());

        var dir = TestServer.NewDataDir();
        try
        {
            var clock = new ManualClock(Start);
            Dictionary<string, string> ids;
            await using (var s = await TestServer.StartAsync(clock, dir, Settings))
            {
                ids = await Send(s, clock, withWrongLink: true);
                var merged = await Profile(s, "email/bob@x.com");
                Assert.Equal(await Profile(s, "user_id/ann"), merged, JsonNode.DeepEquals);
                Assert.Equal(7, merged["computed"]!["orders"]!.GetValue<int>());

                using var r = await s.Http.PostAsJsonAsync("/v1/profiles/user_id/ann/unmerge", new { identifiers = new { email = "bob@x.com" } });
                var text = await r.Content.ReadAsStringAsync();
                Assert.True(r.StatusCode == HttpStatusCode.OK, text);
                var result = JsonDocument.Parse(text).RootElement;
                Assert.Equal(ids["ann"], result.GetProperty("kept").GetString());
                Assert.Equal(ids["bob"], result.GetProperty("split").GetString());

                AssertSides(expected, await Sides(s));
                // Old ids lead to the side their profile was created on.
                Assert.Equal(ids["bob"], JsonDocument.Parse(await s.Http.GetStringAsync("/v1/profiles/id/" + ids["bob"])).RootElement.GetProperty("id").GetString());
                Assert.Equal(ids["bob"], JsonDocument.Parse(await s.Http.GetStringAsync("/v1/profiles/anonymous_id/c-bob")).RootElement.GetProperty("id").GetString());

                // Writes after the unmerge land on each side as usual.
                clock.Advance(TimeSpan.FromHours(1));
                await s.Http.PostAsJsonAsync("/v1/track", new { @event = "Order Completed", anonymousId = "c-bob", properties = new { revenue = 1 } });
            }
            await using (var restarted = await TestServer.StartAsync(clock, dir, Settings))
            {
                var sides = await Sides(restarted);
                Assert.Equal(5, sides[1]["computed"]!["orders"]!.GetValue<int>());
                Assert.Equal(3, sides[0]["computed"]!["orders"]!.GetValue<int>());
            }
            // Without the checkpoint the whole journal is replayed, the unmerge included.
            File.Delete(Path.Combine(dir, "checkpoints", "cdp-checkpoint.json"));
            await using (var replayed = await TestServer.StartAsync(clock, dir, Settings))
            {
                var sides = await Sides(replayed);
                Assert.Equal(5, sides[1]["computed"]!["orders"]!.GetValue<int>());
                Assert.Equal(3, sides[0]["computed"]!["orders"]!.GetValue<int>());
                Assert.True(JsonNode.DeepEquals(expected[0], sides[0]), $"kept side after replay:\n{sides[0]}\nexpected:\n{expected[0]}");
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    static void AssertSides(JsonObject[] expected, JsonObject[] actual)
    {
        for (int i = 0; i < 2; i++)
            Assert.True(JsonNode.DeepEquals(expected[i], actual[i]), $"side {i}:\n{actual[i]}\nexpected:\n{expected[i]}");
    }

    [Fact]
    public async Task Unmerge_refuses_what_it_cannot_do_and_changes_nothing()
    {
        await using var s = await TestServer.StartAsync();
        await s.Http.PostAsJsonAsync("/v1/identify", new { userId = "u1", traits = new { email = "a@x.com" } });
        async Task<(HttpStatusCode, string)> Unmerge(string path, object body)
        {
            using var r = await s.Http.PostAsJsonAsync($"/v1/profiles/{path}/unmerge", body);
            return (r.StatusCode, await r.Content.ReadAsStringAsync());
        }
        var (status, text) = await Unmerge("user_id/u1", new { identifiers = new { email = "b@x.com" } });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("is not an identifier of profile", text);
        (status, text) = await Unmerge("user_id/u1", new { identifiers = new { user_id = "u1" } });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("addressed by", text);
        (status, text) = await Unmerge("user_id/u1", new { ids = new { } });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        (status, _) = await Unmerge("user_id/nobody", new { identifiers = new { email = "a@x.com" } });
        Assert.Equal(HttpStatusCode.NotFound, status);
        var p = JsonDocument.Parse(await s.Http.GetStringAsync("/v1/profiles/email/a@x.com")).RootElement;
        Assert.Equal("u1", p.GetProperty("identifiers").GetProperty("user_id")[0].GetString());

        // Split off an e-mail that only the profile's first write carried: it gets a profile of its
        // own, holding the identifier, while the write's data stays with the user.
        (status, text) = await Unmerge("user_id/u1", new { identifiers = new { email = "a@x.com" } });
        Assert.Equal(HttpStatusCode.OK, status);
        var split = JsonDocument.Parse(text).RootElement.GetProperty("split").GetString();
        var alone = JsonDocument.Parse(await s.Http.GetStringAsync("/v1/profiles/email/a@x.com")).RootElement;
        Assert.Equal(split, alone.GetProperty("id").GetString());
        Assert.False(alone.GetProperty("identifiers").TryGetProperty("user_id", out _));
        var user = JsonDocument.Parse(await s.Http.GetStringAsync("/v1/profiles/user_id/u1")).RootElement;
        Assert.False(user.GetProperty("identifiers").TryGetProperty("email", out _));
    }
}
