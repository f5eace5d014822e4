using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Protocol;
using Cdp.Server.Profiles;
using Cdp.Tests.Infrastructure;
using MessagePack;
using Xunit;
using static Cdp.Tests.Infrastructure.RawConnection;

namespace Cdp.Tests;

/// <summary>
/// Profiles whose values are shared (stored once, the record holding an id) read the same as profiles
/// holding them in full: over HTTP and the binary protocol, in segment rules, in merges of lists, after
/// a restart; an erased profile's value that no other profile had never reaches the table's file.
/// </summary>
public sealed class SharedValueStorageTests
{
    static readonly (string, string)[] Settings =
    [
        ("Store:SharedValueMinProfiles", "2"),
        ("Store:CheckpointIntervalSeconds", "0"),
        ("Traits:Declared:plan", "string"),
        ("Traits:Declared:tags", "list"),
        ("Segments:pro_beta", "traits.plan = \"pro\" and traits.tags contains \"beta\""),
    ];

    static async Task Identify(TestServer s, string user, object traits)
    {
        using var r = await s.Http.PostAsJsonAsync("/v1/identify", new { userId = user, traits });
        Assert.True(r.StatusCode == HttpStatusCode.OK, await r.Content.ReadAsStringAsync());
    }

    static async Task<JsonElement> Traits(TestServer s, string user)
        => JsonDocument.Parse(await s.Http.GetStringAsync("/v1/profiles/user_id/" + user)).RootElement.GetProperty("traits").Clone();

    static async Task<long> Members(TestServer s, string segment)
        => JsonDocument.Parse(await s.Http.GetStringAsync("/v1/segments/" + segment)).RootElement.GetProperty("members").GetInt64();

    /// <summary>How each trait of <paramref name="user"/>'s record is stored, and the record's length.</summary>
    static (Dictionary<string, byte> Kinds, int Length) Stored(TestServer s, string user)
    {
        using var session = s.Engine.NewSession();
        var view = session.GetProfile("user_id", user, null)!;
        var kinds = new Dictionary<string, byte>();
        var r = new ProfileRecordReader(view.Record, view.SharedValues);
        while (r.NextTrait(out var t))
            kinds[s.Engine.Schema.GetName(t.NameId)] = t.StoredKind;
        return (kinds, ProfileRecord.UsedLength(view.Record));
    }

    [Fact]
    public async Task Shared_values_read_back_alike_everywhere_and_after_a_restart()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await using (var s = await TestServer.StartAsync(dir, Settings))
            {
                for (int i = 1; i <= 3; i++)
                    await Identify(s, "u" + i, new { plan = "pro", tags = new[] { "beta", "only-" + i }, city = "Kiel", name = "Person " + i });

                // u1 was the first to write them: stored in full. u2 made them shared; u3 holds ids.
                var (first, firstLength) = Stored(s, "u1");
                var (third, thirdLength) = Stored(s, "u3");
                Assert.Equal((byte)TraitKind.String, first["plan"]);
                Assert.Equal(StoredKind.SharedString, third["plan"]);
                Assert.Equal(StoredKind.SharedString, third["city"]);
                Assert.Equal(StoredKind.SharedStringList, third["tags"]);
                Assert.Equal((byte)TraitKind.String, third["name"]); // one profile each: never shared
                Assert.True(thirdLength < firstLength, $"{thirdLength} vs {firstLength}");

                foreach (var user in new[] { "u1", "u3" })
                {
                    var t = await Traits(s, user);
                    Assert.Equal("pro", t.GetProperty("plan").GetString());
                    Assert.Equal("Kiel", t.GetProperty("city").GetString());
                    Assert.Equal(["beta", "only-" + user[1..]], t.GetProperty("tags").EnumerateArray().Select(x => x.GetString()));
                }
                Assert.Equal(3, await Members(s, "pro_beta"));
                using var export = await s.Http.GetAsync("/v1/segments/pro_beta/export?format=csv");
                Assert.Equal(HttpStatusCode.OK, export.StatusCode);
                var csv = await export.Content.ReadAsStringAsync();
                Assert.Equal(3, csv.Split('\n').Count(line => line.Contains("Kiel")));

                // A change to one profile's shared value leaves the others alone.
                await Identify(s, "u2", new { plan = "starter" });
                Assert.Equal("starter", (await Traits(s, "u2")).GetProperty("plan").GetString());
                Assert.Equal("pro", (await Traits(s, "u3")).GetProperty("plan").GetString());
                Assert.Equal(2, await Members(s, "pro_beta"));
            }

            // Replayed from the journal onto the table as it was left: same answers.
            await using (var s = await TestServer.StartAsync(dir, Settings))
            {
                var t = await Traits(s, "u3");
                Assert.Equal("pro", t.GetProperty("plan").GetString());
                Assert.Equal(["beta", "only-3"], t.GetProperty("tags").EnumerateArray().Select(x => x.GetString()));
                Assert.Equal("starter", (await Traits(s, "u2")).GetProperty("plan").GetString());
                Assert.Equal(2, await Members(s, "pro_beta"));
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task The_binary_protocol_returns_shared_values_in_full()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings);
        using var c = await ConnectAsync(s.BinaryPort);
        foreach (var email in new[] { "a@shared.test", "b@shared.test", "c@shared.test" })
            Assert.Equal(Status.Ok, (await c.RequestAsync(Opcode.Identify, IdentifyBody(email, 3))).Status);
        var reply = await c.RequestAsync(Opcode.GetProfile, GetProfileBody("c@shared.test"));
        Assert.Equal(Status.Ok, reply.Status);
        var profile = MessagePackSerializer.Deserialize<Dictionary<string, object>>(reply.Body);
        var traits = (Dictionary<object, object>)profile["traits"];
        for (int i = 0; i < 3; i++)
            Assert.Equal("value of trait " + i, traits["trait" + i]);
        using var session = s.Engine.NewSession();
        Assert.Equal(3, s.Engine.SharedValues.Count);
    }

    [Fact]
    public async Task A_union_of_lists_with_shared_items_keeps_every_item()
    {
        await using var s = await TestServer.StartAsync(null, null, [.. Settings, ("Traits:Survivorship:tags", "union")]);
        await Identify(s, "u1", new { tags = new[] { "alpha", "beta" } });
        await Identify(s, "u2", new { tags = new[] { "alpha", "beta" } }); // the second profile: shared from the next write on
        await Identify(s, "u3", new { tags = new[] { "alpha", "beta" } });
        Assert.Equal(StoredKind.SharedStringList, Stored(s, "u3").Kinds["tags"]);
        await Identify(s, "u3", new { tags = new[] { "gamma", "alpha" } });
        Assert.Equal(["alpha", "beta", "gamma"], (await Traits(s, "u3")).GetProperty("tags").EnumerateArray().Select(x => x.GetString()));
    }

    [Fact]
    public async Task A_value_of_one_person_merged_from_two_profiles_or_of_refused_writes_is_not_shared()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await using (var s = await TestServer.StartAsync(dir, [.. Settings, ("Store:MaxProfileBytes", "1024")]))
            {
                await Identify(s, "p", new { plan = "free" });
                using (var anonymous = await s.Http.PostAsJsonAsync("/v1/identify", new { anonymousId = "a1", traits = new { nickname = "Zebulon-Quartz" } }))
                    Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
                // The anonymous profile joins p's (p is older and survives), then p writes the value itself.
                using (var link = await s.Http.PostAsJsonAsync("/v1/identify", new { userId = "p", anonymousId = "a1" }))
                    Assert.Equal(HttpStatusCode.OK, link.StatusCode);
                await Identify(s, "p", new { nickname = "Zebulon-Quartz" });
                Assert.Equal(-1, s.Engine.SharedValues.TryGetId("Zebulon-Quartz"));

                // Writes refused whole (the profile would pass Store:MaxProfileBytes) count for nobody.
                var big = Enumerable.Range(0, 40).ToDictionary(i => "t" + i, i => (object)new string('x', 30));
                big["secret"] = "Secret-Qwerty";
                for (int i = 0; i < 3; i++)
                {
                    using var refused = await s.Http.PostAsJsonAsync("/v1/identify", new { userId = "big" + i, traits = big });
                    Assert.NotEqual(HttpStatusCode.OK, refused.StatusCode);
                }
                Assert.Equal(-1, s.Engine.SharedValues.TryGetId("Secret-Qwerty"));
                using var erase = await s.Http.DeleteAsync("/v1/profiles/user_id/p");
                Assert.True(erase.IsSuccessStatusCode, await erase.Content.ReadAsStringAsync());
            }
            var table = File.ReadAllBytes(Path.Combine(dir, "values.log"));
            Assert.Equal(-1, table.AsSpan().IndexOf("Zebulon"u8));
            Assert.Equal(-1, table.AsSpan().IndexOf("Secret"u8));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task An_erased_value_no_other_profile_held_never_reaches_the_table()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await using (var s = await TestServer.StartAsync(dir, Settings))
            {
                await Identify(s, "u1", new { nickname = "Zebulon-Quartz", plan = "pro" });
                await Identify(s, "u2", new { plan = "pro" });
                using var erase = await s.Http.DeleteAsync("/v1/profiles/user_id/u1");
                Assert.True(erase.IsSuccessStatusCode, await erase.Content.ReadAsStringAsync());
            }
            var table = File.ReadAllBytes(Path.Combine(dir, "values.log"));
            Assert.True(table.AsSpan().IndexOf("pro"u8) >= 0);
            Assert.Equal(-1, table.AsSpan().IndexOf("Zebulon"u8));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }
}
