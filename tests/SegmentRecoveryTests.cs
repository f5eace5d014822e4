using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Memberships after a replay, a restart with checks that fell due while the server was down, and
/// segment deletion: what a second pair of eyes found wrong in the first segments change, kept as
/// regressions.
/// </summary>
public sealed class SegmentRecoveryTests
{
    static readonly DateTimeOffset T0 = DateTimeOffset.Parse("2026-05-04T10:15:30.250Z", CultureInfo.InvariantCulture);

    static readonly (string, string)[] Settings =
    [
        ("Traits:Declared:country", "string"),
        ("Traits:Declared:age", "number"),
        ("ComputedTraits:last_visit:Function", "last"),
        ("ComputedTraits:last_visit:Event", "Page Viewed"),
        ("Store:CheckpointIntervalSeconds", "0"),
    ];

    static async Task<JsonElement> Json(HttpResponseMessage r) => (await r.Content.ReadFromJsonAsync<JsonElement>()).Clone();

    static async Task Put(TestServer s, string name, string rule)
    {
        using var r = await s.Http.PutAsJsonAsync($"/v1/segments/{name}", new { rule });
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
    }

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
        return [.. (await Json(r)).GetProperty("segments").EnumerateArray().Select(x => x.GetProperty("name").GetString()!).Order()];
    }

    static async Task<long> Count(TestServer s, string name)
    {
        using var r = await s.Http.GetAsync($"/v1/segments/{name}");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        return (await Json(r)).GetProperty("members").GetInt64();
    }

    /// <summary>
    /// A time-based exit is not journalled; on replay, the later write (to an unrelated trait) finds the
    /// stored check time already past and replaces it with the touched rules' only: the exit is lost.
    /// </summary>
    [Fact]
    public async Task Replay_keeps_a_time_based_exit_that_happened_before_a_later_unrelated_write()
    {
        var clock = new FakeTimeProvider(T0);
        var dir = TestServer.NewDataDir();
        try
        {
            await using (var s = await TestServer.StartAsync(clock, dir, Settings))
            {
                await Put(s, "recent", "days_since(computed.last_visit) < 7");
                await Put(s, "de", "traits.country = \"DE\"");
                await s.Engine.Segments.WaitForBackfillsAsync();
                await s.Engine.CheckpointAsync();
                await Track(s, "v1", "Page Viewed");
                Assert.Equal(["recent"], await SegmentsOf(s, "v1"));
                clock.Advance(TimeSpan.FromDays(8));
                Assert.Empty(await SegmentsOf(s, "v1"));
                await Identify(s, "v1", new { country = "DE" });
                Assert.Equal(["de"], await SegmentsOf(s, "v1"));
            }
            // As after a crash with no checkpoint since: the journal replays both writes.
            Directory.Delete(Path.Combine(dir, "checkpoints"), recursive: true);
            await using (var s = await TestServer.StartAsync(clock, dir, Settings))
            {
                await s.Engine.Segments.WaitForBackfillsAsync();
                clock.Advance(TimeSpan.FromSeconds(1));
                Assert.Equal(["de"], await SegmentsOf(s, "v1"));
                Assert.Equal(0, await Count(s, "recent"));
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    /// <summary>
    /// At start, checks that fell due while the server was down race the backfill of a new segment:
    /// the backfill (scope One) finds the stored check time past, replaces it, and the due check is dropped.
    /// </summary>
    [Fact]
    public async Task A_check_that_fell_due_while_down_survives_a_backfill_that_runs_first()
    {
        var clock = new FakeTimeProvider(T0);
        var dir = TestServer.NewDataDir();
        try
        {
            await using (var s = await TestServer.StartAsync(clock, dir, Settings))
            {
                await Put(s, "recent", "days_since(computed.last_visit) < 7");
                await s.Engine.Segments.WaitForBackfillsAsync();
                await Track(s, "v1", "Page Viewed");
                Assert.Equal(["recent"], await SegmentsOf(s, "v1"));
            }
            // Down for 8 days (the fake clock does not fire timers while no server runs).
            clock.Advance(TimeSpan.FromDays(8));
            await using (var s = await TestServer.StartAsync(clock, dir, Settings))
            {
                await Put(s, "adults", "traits.age >= 18");
                await s.Engine.Segments.WaitForBackfillsAsync();
                clock.Advance(TimeSpan.FromSeconds(1));
                Assert.Empty(await SegmentsOf(s, "v1"));
                Assert.Equal(0, await Count(s, "recent"));
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    /// <summary>
    /// Deleting the segment with the highest id and restarting twice: the compacted segments.log no
    /// longer remembers the id, it is given to the next new segment, and stale 'm' entries of the
    /// deleted segment become memberships of the new one.
    /// </summary>
    [Fact]
    public async Task A_deleted_segments_id_is_never_given_to_a_new_segment()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await using (var s = await TestServer.StartAsync(null, dir, Settings))
            {
                await Put(s, "de", "traits.country = \"DE\"");
                await Put(s, "adults", "traits.age >= 18");
                await s.Engine.Segments.WaitForBackfillsAsync();
                await Identify(s, "u1", new { age = 30 });
                await Identify(s, "u2", new { age = 40, country = "FR" });
                Assert.Equal(["adults"], await SegmentsOf(s, "u1"));
                using (var r = await s.Http.DeleteAsync("/v1/segments/adults"))
                    Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
            }
            await using (var s = await TestServer.StartAsync(null, dir, Settings))
                Assert.Empty(await SegmentsOf(s, "u1"));
            await using (var s = await TestServer.StartAsync(null, dir, Settings))
            {
                // u1 has no country; u2 is French. Neither is in "fr_or_none"... except u2.
                await Put(s, "french", "traits.country = \"FR\"");
                await s.Engine.Segments.WaitForBackfillsAsync();
                Assert.Empty(await SegmentsOf(s, "u1"));
                Assert.Equal(["french"], await SegmentsOf(s, "u2"));
                Assert.Equal(1, await Count(s, "french"));
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }
}
