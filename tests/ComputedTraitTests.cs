using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Computed and derived traits through the real server (HTTP, real store and journal) with a clock
/// the test sets: windows move exactly at bucket boundaries, late events land in their bucket,
/// days_since counts calendar days in its zone across midnight and daylight-saving changes.
/// </summary>
public sealed class ComputedTraitTests
{
    static readonly (string, string)[] OrderTraits =
    [
        ("ComputedTraits:orders_30d:Function", "count"),
        ("ComputedTraits:orders_30d:Event", "Order Completed"),
        ("ComputedTraits:orders_30d:Window", "30d"),
        ("ComputedTraits:orders_all:Function", "count"),
        ("ComputedTraits:orders_all:Event", "Order Completed"),
        ("ComputedTraits:revenue_30d:Function", "sum"),
        ("ComputedTraits:revenue_30d:Event", "Order Completed"),
        ("ComputedTraits:revenue_30d:Property", "revenue"),
        ("ComputedTraits:revenue_30d:Window", "30d"),
        ("ComputedTraits:big_orders:Function", "count"),
        ("ComputedTraits:big_orders:Event", "Order Completed"),
        ("ComputedTraits:big_orders:Where:0", "revenue >= 100"),
        ("ComputedTraits:last_order:Function", "last"),
        ("ComputedTraits:last_order:Event", "Order Completed"),
        ("ComputedTraits:top_sku:Function", "most_frequent"),
        ("ComputedTraits:top_sku:Event", "Order Completed"),
        ("ComputedTraits:top_sku:Property", "sku"),
        ("ComputedTraits:skus:Function", "distinct_count"),
        ("ComputedTraits:skus:Event", "Order Completed"),
        ("ComputedTraits:skus:Property", "sku"),
        ("ComputedTraits:avg_order:Function", "average"),
        ("ComputedTraits:avg_order:Event", "Order Completed"),
        ("ComputedTraits:avg_order:Property", "revenue"),
        ("ComputedTraits:max_order_24h:Function", "max"),
        ("ComputedTraits:max_order_24h:Event", "Order Completed"),
        ("ComputedTraits:max_order_24h:Property", "revenue"),
        ("ComputedTraits:max_order_24h:Window", "24h"),
    ];

    static DateTimeOffset At(string iso) => DateTimeOffset.Parse(iso, System.Globalization.CultureInfo.InvariantCulture);

    static async Task Track(TestServer s, string email, string name, object properties, DateTimeOffset? timestamp = null)
    {
        using var r = await s.Http.PostAsJsonAsync("/v1/track", new
        {
            @event = name,
            properties,
            context = new { traits = new { email } },
            timestamp = timestamp?.ToString("O"),
        });
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    static async Task<JsonElement> Profile(TestServer s, string email, string query = "")
    {
        using var r = await s.Http.GetAsync($"/v1/profiles/email/{email}{query}");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        return (await r.Content.ReadFromJsonAsync<JsonElement>()).Clone();
    }

    static async Task<JsonElement> Computed(TestServer s, string email) => (await Profile(s, email)).GetProperty("computed");

    [Fact]
    public async Task A_30_day_count_rises_with_each_order_and_falls_exactly_at_the_bucket_boundary()
    {
        var clock = new ManualClock(At("2026-03-10T15:00:00Z"));
        await using var s = await TestServer.StartAsync(clock, null, OrderTraits);
        await Track(s, "ann@x.com", "Order Completed", new { revenue = 40, sku = "A" });
        Assert.Equal(1, (await Computed(s, "ann@x.com")).GetProperty("orders_30d").GetInt64());

        clock.Set(At("2026-03-12T08:00:00Z"));
        await Track(s, "ann@x.com", "Order Completed", new { revenue = 160, sku = "B" });
        var c = await Computed(s, "ann@x.com");
        Assert.Equal(2, c.GetProperty("orders_30d").GetInt64());
        Assert.Equal(200, c.GetProperty("revenue_30d").GetInt64());
        Assert.Equal(1, c.GetProperty("big_orders").GetInt64());
        Assert.Equal(100.0, c.GetProperty("avg_order").GetDouble());
        Assert.Equal(2, c.GetProperty("skus").GetInt64());

        // The first order's day (03-10) is the 30th bucket back until 04-08 ends.
        clock.Set(At("2026-04-08T23:59:59.999Z"));
        Assert.Equal(2, (await Computed(s, "ann@x.com")).GetProperty("orders_30d").GetInt64());
        clock.Set(At("2026-04-09T00:00:00.000Z"));
        c = await Computed(s, "ann@x.com");
        Assert.Equal(1, c.GetProperty("orders_30d").GetInt64());
        Assert.Equal(160, c.GetProperty("revenue_30d").GetInt64());
        Assert.Equal(2, c.GetProperty("orders_all").GetInt64());

        clock.Set(At("2026-04-10T23:59:59.999Z"));
        Assert.Equal(1, (await Computed(s, "ann@x.com")).GetProperty("orders_30d").GetInt64());
        clock.Set(At("2026-04-11T00:00:00.000Z"));
        c = await Computed(s, "ann@x.com");
        Assert.Equal(0, c.GetProperty("orders_30d").GetInt64());
        Assert.Equal(0, c.GetProperty("revenue_30d").GetInt64());
        Assert.Equal(2, c.GetProperty("orders_all").GetInt64());
        Assert.Equal(2, c.GetProperty("skus").GetInt64());
    }

    [Fact]
    public async Task The_next_change_is_the_moment_the_oldest_bucket_leaves_the_window()
    {
        var clock = new ManualClock(At("2026-03-10T15:00:00Z"));
        await using var s = await TestServer.StartAsync(clock, null, OrderTraits);
        await Track(s, "ann@x.com", "Order Completed", new { revenue = 40 });
        clock.Set(At("2026-03-12T08:00:00Z"));
        await Track(s, "ann@x.com", "Order Completed", new { revenue = 10 });

        using var session = s.Engine.NewSession();
        var view = session.GetProfile("email", "ann@x.com", null)!;
        long now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        // max_order_24h (hourly buckets) drops the 08:00 order at 08:00 the next day, first of all.
        Assert.Equal(At("2026-03-13T08:00:00Z").ToUnixTimeMilliseconds(), s.Engine.Computed.NextChange(view.Record, now));
        clock.Set(At("2026-03-20T00:00:00Z"));
        Assert.Equal(At("2026-04-09T00:00:00Z").ToUnixTimeMilliseconds(), s.Engine.Computed.NextChange(view.Record, clock.GetUtcNow().ToUnixTimeMilliseconds()));
    }

    [Fact]
    public async Task Late_events_land_in_the_bucket_of_their_own_time_and_too_late_ones_count_only_all_time()
    {
        var clock = new ManualClock(At("2026-04-01T12:00:00Z"));
        await using var s = await TestServer.StartAsync(clock, null, OrderTraits);
        await Track(s, "bob@x.com", "Order Completed", new { revenue = 5 }, At("2026-03-05T10:00:00Z"));
        await Track(s, "bob@x.com", "Order Completed", new { revenue = 7 }, At("2026-02-01T10:00:00Z"));
        var c = await Computed(s, "bob@x.com");
        Assert.Equal(1, c.GetProperty("orders_30d").GetInt64());
        Assert.Equal(5, c.GetProperty("revenue_30d").GetInt64());
        Assert.Equal(2, c.GetProperty("orders_all").GetInt64());
        // last by event time, not by arrival: the 03-05 order, although the 02-01 one came later.
        Assert.Equal(At("2026-03-05T10:00:00Z"), c.GetProperty("last_order").GetDateTimeOffset());

        // The late order still leaves when its own day (03-05) is 30 days old.
        clock.Set(At("2026-04-03T23:59:59.999Z"));
        Assert.Equal(1, (await Computed(s, "bob@x.com")).GetProperty("orders_30d").GetInt64());
        clock.Set(At("2026-04-04T00:00:00Z"));
        Assert.Equal(0, (await Computed(s, "bob@x.com")).GetProperty("orders_30d").GetInt64());

        // A source clock running ahead: the event counts as of its arrival, not in a future bucket.
        clock.Set(At("2026-04-04T12:00:00Z"));
        await Track(s, "bob@x.com", "Order Completed", new { revenue = 9 }, At("2026-04-20T00:00:00Z"));
        Assert.Equal(1, (await Computed(s, "bob@x.com")).GetProperty("orders_30d").GetInt64());
        Assert.Equal(9, (await Computed(s, "bob@x.com")).GetProperty("max_order_24h").GetInt64());
        clock.Set(At("2026-04-05T11:59:59Z"));
        Assert.Equal(9, (await Computed(s, "bob@x.com")).GetProperty("max_order_24h").GetInt64());
        clock.Set(At("2026-04-05T12:00:00Z"));
        Assert.False((await Computed(s, "bob@x.com")).TryGetProperty("max_order_24h", out _));
    }

    [Fact]
    public async Task A_late_identify_never_overwrites_a_newer_trait_and_provenance_shows_source_and_time()
    {
        var clock = new ManualClock(At("2026-05-01T12:00:00Z"));
        await using var s = await TestServer.StartAsync(clock, null);
        using (var r = await s.Http.PostAsJsonAsync("/v1/identify", new { userId = "u1", source = "shop", timestamp = "2026-05-01T10:00:00Z", traits = new { plan = "pro", email = "cy@x.com" } }))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await s.Http.PostAsJsonAsync("/v1/identify", new { userId = "u1", source = "crm", timestamp = "2026-04-01T10:00:00Z", traits = new { plan = "free", city = "Ulm" } }))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var p = await Profile(s, "cy@x.com", "?provenance=true");
        var plan = p.GetProperty("traits").GetProperty("plan");
        Assert.Equal("pro", plan.GetProperty("value").GetString());
        Assert.Equal("shop", plan.GetProperty("source").GetString());
        Assert.Equal(At("2026-05-01T10:00:00Z"), plan.GetProperty("time").GetDateTimeOffset());
        var city = p.GetProperty("traits").GetProperty("city");
        Assert.Equal("Ulm", city.GetProperty("value").GetString());
        Assert.Equal("crm", city.GetProperty("source").GetString());
        // Without provenance traits stay plain values.
        Assert.Equal("pro", (await Profile(s, "cy@x.com")).GetProperty("traits").GetProperty("plan").GetString());

        using var bad = await s.Http.GetAsync("/v1/profiles/email/cy@x.com?provenance=maybe");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    static readonly (string, string)[] VisitTraits =
    [
        ("ComputedTraits:last_visit:Function", "last"),
        ("ComputedTraits:last_visit:Event", "Page Viewed"),
        ("DerivedTraits:days_since_visit:DaysSince", "computed.last_visit"),
        ("DerivedTraits:days_since_visit:TimeZone", "Europe/Berlin"),
        ("DerivedTraits:days_since_signup:DaysSince", "traits.signup_at"),
        ("Traits:Declared:signup_at", "timestamp"),
    ];

    static async Task<long> DaysSinceVisit(TestServer s, string email)
        => (await Computed(s, email)).GetProperty("days_since_visit").GetInt64();

    [Fact]
    public async Task Days_since_counts_calendar_days_in_its_zone_across_midnight_and_the_spring_change()
    {
        // Berlin: CET (UTC+1) until 2026-03-29 02:00 local, then CEST (UTC+2).
        var clock = new ManualClock(At("2026-03-28T22:50:00Z"));   // 23:50 CET, Saturday
        await using var s = await TestServer.StartAsync(clock, null, VisitTraits);
        using (var r = await s.Http.PostAsJsonAsync("/v1/page", new { name = "Home", context = new { traits = new { email = "dee@x.com" } } }))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal(0, await DaysSinceVisit(s, "dee@x.com"));
        clock.Set(At("2026-03-28T22:59:59.999Z"));                 // 23:59:59.999 CET
        Assert.Equal(0, await DaysSinceVisit(s, "dee@x.com"));
        clock.Set(At("2026-03-28T23:00:00Z"));                     // 00:00 CET on the 29th: ten minutes later, one day
        Assert.Equal(1, await DaysSinceVisit(s, "dee@x.com"));
        // The 29th has 23 hours: its end is 22:00 UTC, not 23:00.
        clock.Set(At("2026-03-29T21:59:59Z"));
        Assert.Equal(1, await DaysSinceVisit(s, "dee@x.com"));
        clock.Set(At("2026-03-29T22:00:00Z"));                     // 00:00 CEST on the 30th
        Assert.Equal(2, await DaysSinceVisit(s, "dee@x.com"));

        using var session = s.Engine.NewSession();
        var view = session.GetProfile("email", "dee@x.com", null)!;
        // The next change of a days_since is the next local midnight: 00:00 CEST on the 31st.
        Assert.Equal(At("2026-03-30T22:00:00Z").ToUnixTimeMilliseconds(),
            s.Engine.Computed.NextChange(view.Record, clock.GetUtcNow().ToUnixTimeMilliseconds()));
    }

    [Fact]
    public async Task Days_since_is_one_day_across_the_autumn_change_and_reads_declared_timestamp_traits()
    {
        // Berlin: CEST until 2026-10-25 03:00 local, then CET; the 25th has 25 hours.
        var clock = new ManualClock(At("2026-10-24T21:30:00Z"));   // 23:30 CEST on the 24th
        await using var s = await TestServer.StartAsync(clock, null, VisitTraits);
        using (var r = await s.Http.PostAsJsonAsync("/v1/page", new { name = "Home", context = new { traits = new { email = "eve@x.com" } } }))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await s.Http.PostAsJsonAsync("/v1/identify", new { traits = new { email = "eve@x.com", signup_at = "2026-10-20T08:00:00+02:00" } }))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        clock.Set(At("2026-10-25T22:59:59Z"));                     // 23:59:59 CET on the 25th
        Assert.Equal(1, await DaysSinceVisit(s, "eve@x.com"));
        clock.Set(At("2026-10-25T23:00:00Z"));                     // 00:00 CET on the 26th
        Assert.Equal(2, await DaysSinceVisit(s, "eve@x.com"));
        // days_since_signup has no zone: UTC days from 2026-10-20 06:00Z to 2026-10-25 23:00Z.
        Assert.Equal(5, (await Computed(s, "eve@x.com")).GetProperty("days_since_signup").GetInt64());
        // The declared timestamp trait was stored as a timestamp, not as the string sent.
        var signup = (await Profile(s, "eve@x.com")).GetProperty("traits").GetProperty("signup_at").GetDateTimeOffset();
        Assert.Equal(At("2026-10-20T06:00:00Z"), signup);
    }

    [Fact]
    public async Task Projection_with_fields_selects_computed_values_by_their_computed_name()
    {
        var clock = new ManualClock(At("2026-03-10T15:00:00Z"));
        await using var s = await TestServer.StartAsync(clock, null, OrderTraits);
        await Track(s, "fay@x.com", "Order Completed", new { revenue = 12.5, sku = "Z" });
        var c = (await Profile(s, "fay@x.com", "?fields=computed.revenue_30d,computed.top_sku")).GetProperty("computed");
        Assert.Equal(12.5, c.GetProperty("revenue_30d").GetDouble());
        Assert.Equal("Z", c.GetProperty("top_sku").GetString());
        Assert.Equal(2, c.EnumerateObject().Count());
    }
}
