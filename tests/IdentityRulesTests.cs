using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Identity rules over real HTTP: per-type limits and priorities decide what a write links, junk
/// identifiers are ignored, conflicts are recorded on the profile, and merges of many profiles add
/// up their counters exactly.
/// </summary>
public sealed class IdentityRulesTests
{
    static async Task<JsonElement> Post(TestServer s, string path, object body)
    {
        using var r = await s.Http.PostAsJsonAsync(path, body);
        var text = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, $"{path}: {(int)r.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    static async Task<JsonElement?> Get(TestServer s, string path)
    {
        using var r = await s.Http.GetAsync("/v1/profiles/" + path);
        if (r.StatusCode == HttpStatusCode.NotFound)
            return null;
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        return JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
    }

    static async Task<Dictionary<string, JsonElement>> Export(TestServer s)
    {
        var text = await s.Http.GetStringAsync("/v1/export?format=ndjson");
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .ToDictionary(p => p.GetProperty("id").GetString()!);
    }

    static string[] Values(JsonElement profile, string type)
        => profile.GetProperty("identifiers").TryGetProperty(type, out var a) ? [.. a.EnumerateArray().Select(v => v.GetString()!)] : [];

    [Fact]
    public async Task A_second_user_id_never_merges_the_write_lands_on_its_user_and_the_conflict_is_recorded()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await SecondUserId(dir);
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    static async Task SecondUserId(string dir)
    {
        var s = await TestServer.StartAsync(dir);
        var ann = (await Post(s, "/v1/identify", new { userId = "u1", traits = new { email = "ann@x.com", plan = "pro" } })).GetProperty("id").GetString();

        // Another user id with Ann's e-mail: user_id allows one value, and outranks email.
        var second = await Post(s, "/v1/identify", new { userId = "u2", traits = new { email = "ann@x.com", plan = "free" } });
        var other = second.GetProperty("id").GetString();
        Assert.NotEqual(ann, other);
        var rejection = Assert.Single(second.GetProperty("rejected").EnumerateArray());
        Assert.Equal("identity_conflict", rejection.GetProperty("code").GetString());
        Assert.Equal("traits.email", rejection.GetProperty("field").GetString());
        Assert.Contains($"profile {ann}", rejection.GetProperty("message").GetString());

        var a = (await Get(s, "email/ann@x.com"))!.Value;
        Assert.Equal(ann, a.GetProperty("id").GetString());
        Assert.Equal(["u1"], Values(a, "user_id"));
        Assert.Equal("pro", a.GetProperty("traits").GetProperty("plan").GetString());
        var b = (await Get(s, "user_id/u2"))!.Value;
        Assert.Equal(other, b.GetProperty("id").GetString());
        Assert.Empty(Values(b, "email"));
        Assert.Equal("free", b.GetProperty("traits").GetProperty("plan").GetString());

        // A track naming both users merges nothing either; it counts for the first-named user's profile.
        var both = await Post(s, "/v1/track", new { @event = "Order Completed", userId = "u2", context = new { traits = new { email = "ann@x.com" } } });
        Assert.Equal(other, both.GetProperty("id").GetString());

        var export = await Export(s);
        Assert.Equal(2, export.Count);
        Assert.False(export[ann!].TryGetProperty("conflicts", out _));
        var conflicts = export[other!].GetProperty("conflicts").EnumerateArray().ToList();
        Assert.Equal(2, conflicts.Count);
        Assert.All(conflicts, c =>
        {
            Assert.Equal("email", c.GetProperty("type").GetString());
            Assert.Equal("ann@x.com", c.GetProperty("value").GetString());
            Assert.Equal(ann, c.GetProperty("heldBy").GetString());
            Assert.Contains("user_id", c.GetProperty("reason").GetString());
        });

        // Conflicts are journalled: a restart (full replay, the checkpoint metadata gone) keeps them.
        await s.DisposeAsync();
        File.Delete(Path.Combine(dir, "checkpoints", "cdp-checkpoint.json"));
        await using var again = await TestServer.StartAsync(dir);
        var replayed = await Export(again);
        Assert.Equal(2, replayed[other!].GetProperty("conflicts").GetArrayLength());
        Assert.Equal(ann, (await Get(again, "email/ann@x.com"))!.Value.GetProperty("id").GetString());
    }

    [Fact]
    public async Task Priorities_decide_which_profile_a_write_lands_on_when_not_everything_can_be_linked()
    {
        // E-mail configured to outrank user_id: the write follows Ann's e-mail, and the user id it
        // carries, which her profile has no room for, is the conflict.
        await using var s = await TestServer.StartAsync(null, ("Identity:Rules:email:Priority", "1"), ("Identity:Rules:user_id:Priority", "2"));
        var ann = (await Post(s, "/v1/identify", new { userId = "u1", traits = new { email = "ann@x.com" } })).GetProperty("id").GetString();
        var write = await Post(s, "/v1/identify", new { userId = "u2", traits = new { email = "ann@x.com", plan = "pro" } });
        Assert.Equal(ann, write.GetProperty("id").GetString());
        var rejection = Assert.Single(write.GetProperty("rejected").EnumerateArray());
        Assert.Equal("userId", rejection.GetProperty("field").GetString());
        Assert.Null(await Get(s, "user_id/u2"));
        Assert.Equal("pro", (await Get(s, "user_id/u1"))!.Value.GetProperty("traits").GetProperty("plan").GetString());
    }

    [Fact]
    public async Task Limits_and_the_identifier_cap_leave_extra_values_unlinked_while_the_write_still_applies()
    {
        await using var s = await TestServer.StartAsync(null, ("Identity:Rules:email:MaxValues", "2"), ("Identity:MaxIdentifiersPerProfile", "4"));
        var id = (await Post(s, "/v1/identify", new { userId = "u1", identifiers = new { email = "a@x.com" } })).GetProperty("id").GetString();
        await Post(s, "/v1/identify", new { userId = "u1", identifiers = new { email = "b@x.com" } });
        var third = await Post(s, "/v1/identify", new { userId = "u1", identifiers = new { email = "c@x.com" }, traits = new { plan = "pro" } });
        Assert.Equal(id, third.GetProperty("id").GetString());
        Assert.Equal("identity_conflict", third.GetProperty("rejected")[0].GetProperty("code").GetString());
        var p = (await Get(s, "user_id/u1"))!.Value;
        Assert.Equal(["a@x.com", "b@x.com"], Values(p, "email"));
        Assert.Equal("pro", p.GetProperty("traits").GetProperty("plan").GetString());
        Assert.Null(await Get(s, "email/c@x.com"));

        // Cap of 4: user, two emails, one device; a second device does not fit.
        await Post(s, "/v1/identify", new { userId = "u1", identifiers = new { device = "d1" } });
        var capped = await Post(s, "/v1/identify", new { userId = "u1", identifiers = new { device = "d2" } });
        Assert.Contains("MaxIdentifiersPerProfile", capped.GetProperty("rejected")[0].GetProperty("message").GetString());
        Assert.Equal(["d1"], Values((await Get(s, "user_id/u1"))!.Value, "device"));
    }

    [Fact]
    public async Task Blocklisted_values_are_ignored_and_a_write_with_nothing_else_is_refused()
    {
        await using var s = await TestServer.StartAsync(null,
            ("Identity:BlocklistPatterns:0", @"test\d*@example\.com"),
            ("Identity:Rules:device:Blocklist:0", "00000000-0000-0000-0000-000000000000"));
        var first = await Post(s, "/v1/track", new { @event = "Viewed", userId = "null", anonymousId = "a1" });
        Assert.Equal("blocklisted", first.GetProperty("rejected")[0].GetProperty("code").GetString());
        var second = await Post(s, "/v1/track", new { @event = "Viewed", userId = "NULL ", anonymousId = "a2", context = new { traits = new { email = "Test7@Example.com" } } });
        Assert.Equal(2, second.GetProperty("rejected").GetArrayLength());
        // "null" linked nothing, so the two visitors stayed apart.
        Assert.NotEqual(first.GetProperty("id").GetString(), second.GetProperty("id").GetString());
        Assert.Null(await Get(s, "user_id/null"));
        Assert.Empty(Values((await Get(s, "anonymous_id/a2"))!.Value, "email"));

        using var refused = await s.Http.PostAsJsonAsync("/v1/track", new { @event = "Viewed", userId = "undefined", identifiers = new { device = "00000000-0000-0000-0000-000000000000" } });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("no_identifier", problem.GetProperty("code").GetString());
        Assert.Contains("blocklist", problem.GetProperty("detail").GetString());
        Assert.Equal(2, (await Export(s)).Count);
    }

    [Fact]
    public async Task A_bad_blocklist_pattern_or_rule_stops_the_server_from_starting_with_the_setting_named()
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(null, ("Identity:BlocklistPatterns:0", "(unclosed")));
        Assert.Contains("Identity:BlocklistPatterns:0", e.ToString());
        e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(null, ("Identity:Rules:email:MaxValues", "0")));
        Assert.Contains("Identity:Rules:email:MaxValues", e.ToString());
        e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(null, ("Identity:Rules:emial:MaxValues", "2")));
        Assert.Contains("'emial' is not an identifier type", e.ToString());
    }

    [Fact]
    public async Task One_write_merges_five_profiles_into_the_oldest_and_their_counters_add_up()
    {
        await using var s = await TestServer.StartAsync(null,
            ("ComputedTraits:orders:Function", "count"), ("ComputedTraits:orders:Event", "Order Completed"),
            ("ComputedTraits:revenue:Function", "sum"), ("ComputedTraits:revenue:Event", "Order Completed"), ("ComputedTraits:revenue:Property", "revenue"));
        var people = new object[]
        {
            new { anonymousId = "a1" },
            new { identifiers = new { email = "e2@x.com" } },
            new { identifiers = new { phone = "+4915112345678" } },
            new { identifiers = new { device = "d4" } },
            new { identifiers = new { account = "k5" } },
        };
        var ids = new List<string>();
        for (int i = 0; i < people.Length; i++)
            for (int k = 0; k <= i; k++)
            {
                var body = JsonSerializer.SerializeToNode(people[i])!.AsObject();
                body["event"] = "Order Completed";
                body["properties"] = new System.Text.Json.Nodes.JsonObject { ["revenue"] = 10 * (i + 1) };
                var r = await Post(s, "/v1/track", body);
                if (k == 0)
                    ids.Add(r.GetProperty("id").GetString()!);
            }
        Assert.Equal(5, ids.Distinct().Count());

        var merged = await Post(s, "/v1/identify", new
        {
            anonymousId = "a1",
            identifiers = new { email = "e2@x.com", phone = "+4915112345678", device = "d4", account = "k5" },
        });
        Assert.Equal(ids[0], merged.GetProperty("id").GetString());
        foreach (var id in ids)
        {
            var p = (await Get(s, "id/" + id))!.Value;
            Assert.Equal(ids[0], p.GetProperty("id").GetString());
            Assert.Equal(15, p.GetProperty("events").GetProperty("Order Completed").GetProperty("count").GetInt32());
            Assert.Equal(15, p.GetProperty("computed").GetProperty("orders").GetInt32());
            Assert.Equal(10 * 1 + 20 * 2 + 30 * 3 + 40 * 4 + 50 * 5, p.GetProperty("computed").GetProperty("revenue").GetDouble());
        }
        Assert.Single(await Export(s));
    }

    [Fact]
    public async Task Old_ids_resolve_through_alias_chains_and_alias_links_a_previous_id()
    {
        await using var s = await TestServer.StartAsync();
        string Id(JsonElement e) => e.GetProperty("id").GetString()!;
        var p1 = Id(await Post(s, "/v1/identify", new { anonymousId = "c1" }));
        var p2 = Id(await Post(s, "/v1/identify", new { anonymousId = "c2" }));
        var p3 = Id(await Post(s, "/v1/identify", new { anonymousId = "c3" }));
        // p3 into p2, then p2 into p1: p3's alias leads through p2.
        Assert.Equal(p3, Id(await Post(s, "/v1/identify", new { anonymousId = "c3", identifiers = new { device = "d23" } })));
        Assert.Equal(p2, Id(await Post(s, "/v1/identify", new { anonymousId = "c2", identifiers = new { device = "d23" } })));
        Assert.Equal(p1, Id(await Post(s, "/v1/identify", new { anonymousId = "c1", identifiers = new { device = "d23" } })));
        foreach (var id in new[] { p1, p2, p3 })
            Assert.Equal(p1, (await Get(s, "id/" + id))!.Value.GetProperty("id").GetString());

        // Segment's alias: the visitor's earlier anonymous id joins the user.
        var user = Id(await Post(s, "/v1/identify", new { userId = "u9" }));
        Assert.NotEqual(user, Id(await Post(s, "/v1/identify", new { anonymousId = "v9" })));
        var aliased = await Post(s, "/v1/alias", new { previousId = "v9", userId = "u9" });
        Assert.Equal(user, Id(aliased));
        Assert.Equal(user, (await Get(s, "anonymous_id/v9"))!.Value.GetProperty("id").GetString());
        using var bad = await s.Http.PostAsJsonAsync("/v1/alias", new { userId = "u9" });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("previousId", await bad.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Alias_chains_collapse_so_every_merged_id_is_one_hop_from_its_profile_also_after_replay()
    {
        // Profile n is merged into n-1, which is then merged into n-2, and so on, 100 times: without
        // collapsing, the first id merged would sit 99 aliases away from its profile.
        const int N = 100;
        var dir = TestServer.NewDataDir();
        var ids = new string[N + 1];
        try
        {
            await using (var s = await TestServer.StartAsync(dir, ("Identity:Rules:device:MaxValues", "1000"), ("Identity:Rules:anonymous_id:MaxValues", "1000")))
            {
                for (int i = 1; i <= N; i++)
                    ids[i] = (await Post(s, "/v1/identify", new { anonymousId = $"c{i}", identifiers = new { device = $"x{i}" } })).GetProperty("id").GetString()!;
                for (int i = N; i >= 2; i--)
                    Assert.Equal(ids[i - 1], (await Post(s, "/v1/track", new { @event = "Linked", anonymousId = $"c{i - 1}", identifiers = new { device = $"x{i}" } })).GetProperty("id").GetString());
                await AssertOneHop(s);
            }
            File.Delete(Path.Combine(dir, "checkpoints", "cdp-checkpoint.json"));
            await using (var replayed = await TestServer.StartAsync(dir, ("Identity:Rules:device:MaxValues", "1000"), ("Identity:Rules:anonymous_id:MaxValues", "1000")))
                await AssertOneHop(replayed);
        }
        finally
        {
            TestServer.TryDelete(dir);
        }

        async Task AssertOneHop(TestServer s)
        {
            using var session = s.Engine.NewSession();
            for (int i = 1; i <= N; i++)
            {
                Assert.Equal(ids[1], (await Get(s, "id/" + ids[i]))!.Value.GetProperty("id").GetString());
                if (i == 1)
                    continue;
                var raw = session.ReadRawProfileForTests(ulong.Parse(ids[i], System.Globalization.CultureInfo.InvariantCulture));
                Assert.True(Cdp.Server.Profiles.ProfileRecord.IsAlias(raw));
                Assert.Equal(ulong.Parse(ids[1], System.Globalization.CultureInfo.InvariantCulture), Cdp.Server.Profiles.ProfileRecord.AliasTarget(raw));
            }
            Assert.Equal(N - 1, (await Get(s, "anonymous_id/c50"))!.Value.GetProperty("events").GetProperty("Linked").GetProperty("count").GetInt32());
        }
    }
}
