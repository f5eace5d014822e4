using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Segments through the real server: definitions over HTTP with errors that point at the mistake,
/// membership kept live by writes, exact time-based exits on a fake clock with no event, pushes to a
/// subscriber, members paged, explanations, persistence across restarts.
/// </summary>
public sealed class SegmentTests
{
    static readonly DateTimeOffset T0 = DateTimeOffset.Parse("2026-05-04T10:15:30.250Z", CultureInfo.InvariantCulture);

    static readonly (string, string)[] Settings =
    [
        ("Traits:Declared:country", "string"),
        ("Traits:Declared:age", "number"),
        ("ComputedTraits:last_visit:Function", "last"),
        ("ComputedTraits:last_visit:Event", "Page Viewed"),
        ("ComputedTraits:orders_30d:Function", "count"),
        ("ComputedTraits:orders_30d:Event", "Order Completed"),
        ("ComputedTraits:orders_30d:Window", "30d"),
        ("Store:CheckpointIntervalSeconds", "0"),
    ];

    static async Task<JsonElement> Json(HttpResponseMessage r) => (await r.Content.ReadFromJsonAsync<JsonElement>()).Clone();

    static async Task<HttpResponseMessage> Put(TestServer s, string name, string rule)
        => await s.Http.PutAsJsonAsync($"/v1/segments/{name}", new { rule });

    static async Task Identify(TestServer s, string user, object traits)
    {
        using var r = await s.Http.PostAsJsonAsync("/v1/identify", new { userId = user, traits });
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    static async Task Track(TestServer s, string user, string name)
    {
        using var r = await s.Http.PostAsJsonAsync("/v1/track", new { userId = user, @event = name });
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    static async Task<string[]> SegmentsOf(TestServer s, string user)
    {
        using var r = await s.Http.GetAsync($"/v1/profiles/user_id/{user}/segments");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        return [.. (await Json(r)).GetProperty("segments").EnumerateArray().Select(x => x.GetProperty("name").GetString()!)];
    }

    static async Task<long> Count(TestServer s, string name)
    {
        using var r = await s.Http.GetAsync($"/v1/segments/{name}");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        return (await Json(r)).GetProperty("members").GetInt64();
    }

    [Fact]
    public async Task A_bad_rule_is_refused_with_its_position_and_nothing_is_defined()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings);
        using var r = await Put(s, "de", "traits.country = \"DE\" and\n  traits.age >= ");
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var problem = await Json(r);
        Assert.Equal("invalid_rule", problem.GetProperty("code").GetString());
        Assert.Equal(2, problem.GetProperty("line").GetInt32());
        Assert.True(problem.GetProperty("column").GetInt32() > 1);
        using var typed = await Put(s, "de", "traits.country > 3");
        Assert.Equal(HttpStatusCode.BadRequest, typed.StatusCode);
        using var list = await s.Http.GetAsync("/v1/segments");
        Assert.Empty((await Json(list)).GetProperty("segments").EnumerateArray());
        using var badName = await Put(s, "no spaces", "traits.country = \"DE\"");
        Assert.Equal(HttpStatusCode.BadRequest, badName.StatusCode);
        Assert.Equal("invalid_name", (await Json(badName)).GetProperty("code").GetString());
        using var notJson = await s.Http.PutAsync("/v1/segments/x", new StringContent("{\"rule\": 5}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        // A body without a length (chunked) is bounded too, before it is parsed.
        var huge = new MemoryStream(System.Text.Encoding.UTF8.GetBytes("{\"rule\": \"" + new string('x', 200_000) + "\"}"));
        using var chunked = new HttpRequestMessage(HttpMethod.Put, "/v1/segments/x") { Content = new StreamContent(huge) };
        chunked.Headers.TransferEncodingChunked = true;
        using var tooLong = await s.Http.SendAsync(chunked);
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        Assert.Equal("too_long", (await Json(tooLong)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Writes_move_profiles_in_and_out_and_counts_members_and_explanations_follow()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings);
        using (var r = await Put(s, "de", "traits.country = \"DE\""))
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        using (var r = await Put(s, "de_adults", "in_segment(\"de\") and traits.age >= 18"))
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        await s.Engine.Segments.WaitForBackfillsAsync();

        await Identify(s, "u1", new { country = "DE", age = 30 });
        await Identify(s, "u2", new { country = "FR", age = 40 });
        await Identify(s, "u3", new { country = "DE", age = 12 });
        Assert.Equal(["de", "de_adults"], (await SegmentsOf(s, "u1")).Order());
        Assert.Empty(await SegmentsOf(s, "u2"));
        Assert.Equal(["de"], await SegmentsOf(s, "u3"));
        using (var profile = await s.Http.GetAsync("/v1/profiles/user_id/u3"))
            Assert.Equal(["de"], (await Json(profile)).GetProperty("segments").EnumerateArray().Select(x => x.GetString()));
        Assert.Equal(2, await Count(s, "de"));
        Assert.Equal(1, await Count(s, "de_adults"));

        // A change of the field moves the profile out of both, the dependent one included.
        await Identify(s, "u1", new { country = "NL" });
        Assert.Empty(await SegmentsOf(s, "u1"));
        Assert.Equal(1, await Count(s, "de"));
        Assert.Equal(0, await Count(s, "de_adults"));

        using var explain = await s.Http.GetAsync("/v1/profiles/user_id/u3/segments/de_adults");
        var e = await Json(explain);
        Assert.False(e.GetProperty("member").GetBoolean());
        var conditions = e.GetProperty("conditions").EnumerateArray().ToArray();
        Assert.Contains(conditions, c => c.GetProperty("condition").GetString()!.Contains("traits.age") && !c.GetProperty("holds").GetBoolean()
            && c.TryGetProperty("value", out var v) && v.GetString() == "12");
        Assert.Contains(conditions, c => c.GetProperty("condition").GetString()!.Contains("in_segment") && c.GetProperty("holds").GetBoolean());

        using var members = await s.Http.GetAsync("/v1/segments/de/members?limit=10");
        var page = await Json(members);
        Assert.Single(page.GetProperty("members").EnumerateArray());
        Assert.False(page.TryGetProperty("next_cursor", out _));

        // Deleting a segment another one reads is refused; deleting the reader first works.
        using (var r = await s.Http.DeleteAsync("/v1/segments/de"))
            Assert.Equal(HttpStatusCode.Conflict, r.StatusCode);
        using (var r = await s.Http.DeleteAsync("/v1/segments/de_adults"))
            Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
        using (var r = await s.Http.GetAsync("/v1/segments/de_adults"))
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        Assert.Equal(["de"], await SegmentsOf(s, "u3"));
    }

    [Fact]
    public async Task Members_page_through_every_member_once()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings);
        for (int i = 0; i < 57; i++)
            await Identify(s, "m" + i, new { country = i % 3 == 0 ? "FR" : "DE" });
        using (var r = await Put(s, "de", "traits.country = \"DE\""))
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        await s.Engine.Segments.WaitForBackfillsAsync();
        Assert.Equal(38, await Count(s, "de"));
        var seen = new List<string>();
        string? cursor = null;
        do
        {
            using var r = await s.Http.GetAsync($"/v1/segments/de/members?limit=10{(cursor is null ? "" : "&cursor=" + cursor)}");
            var page = await Json(r);
            seen.AddRange(page.GetProperty("members").EnumerateArray().Select(m => m.GetString()!));
            cursor = page.TryGetProperty("next_cursor", out var next) ? next.GetString() : null;
        }
        while (cursor is not null);
        Assert.Equal(38, seen.Count);
        Assert.Equal(38, seen.Distinct().Count());
        using var bad = await s.Http.GetAsync("/v1/segments/de/members?limit=0");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        // The export streams the same members' profiles.
        var ndjson = await s.Http.GetStringAsync("/v1/segments/de/export?format=ndjson");
        var exported = ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetString()!).ToList();
        Assert.Equal(seen.Order(), exported.Order());
        var csv = (await s.Http.GetStringAsync("/v1/segments/de/export?format=csv")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(39, csv.Length);
        Assert.Contains("traits.country", csv[0]);
        using var missing = await s.Http.GetAsync("/v1/segments/nope/export");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    /// <summary>
    /// The acceptance case: a profile leaves "visited in the last 7 days" at the exact millisecond its
    /// last visit turns 7 days old, with no event, and the exit is pushed to a subscriber; the same
    /// when the server restarts in between.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_profile_leaves_a_time_window_at_the_exact_tick_with_no_event(bool restartInBetween)
    {
        var clock = new FakeTimeProvider(T0);
        var dir = TestServer.NewDataDir();
        try
        {
            var s = await TestServer.StartAsync(clock, dir, Settings);
            try
            {
                using (var r = await Put(s, "recent", "days_since(computed.last_visit) < 7"))
                    Assert.Equal(HttpStatusCode.Created, r.StatusCode);
                await s.Engine.Segments.WaitForBackfillsAsync();
                await Track(s, "v1", "Page Viewed");
                clock.Advance(TimeSpan.FromHours(30));
                await Track(s, "v2", "Page Viewed");
                Assert.Equal(["recent"], await SegmentsOf(s, "v1"));
                Assert.Equal(2, await Count(s, "recent"));

                clock.Advance(TimeSpan.FromDays(2));
                if (restartInBetween)
                {
                    await s.DisposeAsync();
                    s = await TestServer.StartAsync(clock, dir, Settings);
                    Assert.Equal(["recent"], await SegmentsOf(s, "v1"));
                }
                // A binary subscriber, as an edge app would be.
                await using var client = await Cdp.Client.CdpClient.ConnectAsync(new Cdp.Client.CdpClientOptions { Port = s.BinaryPort });
                await using var subscription = await client.SubscribeAsync(["recent"]);

                // One millisecond before v1's visit is 7 days old: still in.
                clock.Advance(T0.AddDays(7) - clock.GetUtcNow() - TimeSpan.FromMilliseconds(1));
                Assert.Equal(["recent"], await SegmentsOf(s, "v1"));
                clock.Advance(TimeSpan.FromMilliseconds(1));
                // The first push is the exit, stamped with that exact millisecond: nothing went out earlier.
                var exit = await subscription.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                Assert.False(exit.Entered);
                Assert.Equal("recent", exit.Segment);
                Assert.Equal("time", exit.Reason);
                Assert.Equal(T0.AddDays(7), exit.At);
                Assert.Empty(await SegmentsOf(s, "v1"));
                Assert.Equal(["recent"], await SegmentsOf(s, "v2"));
                Assert.Equal(1, await Count(s, "recent"));

                // v2 follows 30 hours later, to the millisecond.
                clock.Advance(TimeSpan.FromHours(30));
                var second = await subscription.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Equal(T0.AddDays(7).AddHours(30), second.At);
                Assert.NotEqual(exit.ProfileId, second.ProfileId);
                Assert.Equal(0, await Count(s, "recent"));
            }
            finally
            {
                await s.DisposeAsync();
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task Segments_and_memberships_survive_a_restart_and_a_replay_from_the_journal()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await using (var s = await TestServer.StartAsync(null, dir, Settings))
            {
                using (var r = await Put(s, "de", "traits.country = \"DE\""))
                    Assert.Equal(HttpStatusCode.Created, r.StatusCode);
                await s.Engine.Segments.WaitForBackfillsAsync();
                await Identify(s, "u1", new { country = "DE" });
                await Identify(s, "u2", new { country = "FR" });
            }
            // The final checkpoint holds the finished backfill, and the log says so: it is not run again.
            Assert.Contains("\"settled\":true", File.ReadAllText(Path.Combine(dir, "segments.log")));
            await using (var s = await TestServer.StartAsync(null, dir, Settings))
            {
                Assert.False(s.Engine.Segments.Current.ByName["de"].Backfilling);
                Assert.Equal(["de"], await SegmentsOf(s, "u1"));
                Assert.Equal(1, await Count(s, "de"));
                await Identify(s, "u2", new { country = "DE" });
            }
            // Without the checkpoints the journal alone rebuilds the memberships.
            Directory.Delete(Path.Combine(dir, "checkpoints"), recursive: true);
            await using (var s = await TestServer.StartAsync(null, dir, Settings))
            {
                await s.Engine.Segments.WaitForBackfillsAsync();
                Assert.Equal(["de"], await SegmentsOf(s, "u1"));
                Assert.Equal(["de"], await SegmentsOf(s, "u2"));
                Assert.Equal(2, await Count(s, "de"));
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task Segments_from_configuration_are_defined_at_start_and_a_bad_one_stops_the_start()
    {
        await using (var s = await TestServer.StartAsync(null, null, [.. Settings, ("Segments:adults", "traits.age >= 18")]))
        {
            await Identify(s, "u1", new { age = 20 });
            Assert.Equal(["adults"], await SegmentsOf(s, "u1"));
        }
        var e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(null, null, [.. Settings, ("Segments:adults", "traits.age >= ")]));
        Assert.Contains("Segments:adults", e.ToString());
    }
}
