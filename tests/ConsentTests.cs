using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Client;
using Cdp.Protocol;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Consent per purpose and purpose-bound reads over HTTP, against the real server: a read for a
/// purpose shows exactly that purpose's fields, nothing without the consent it needs, and consent
/// changes reach segment membership in the same write.
/// </summary>
public sealed class ConsentTests
{
    static readonly (string, string)[] Settings =
    [
        ("ComputedTraits:orders_30d:Function", "count"),
        ("ComputedTraits:orders_30d:Event", "Order Completed"),
        ("ComputedTraits:orders_30d:Window", "30d"),
        ("ComputedTraits:revenue:Function", "sum"),
        ("ComputedTraits:revenue:Event", "Order Completed"),
        ("ComputedTraits:revenue:Property", "total"),
        ("Traits:Declared:country", "string"),
        ("Purposes:marketing:Identifiers:0", "email"),
        ("Purposes:marketing:Traits:0", "first_name"),
        ("Purposes:marketing:Traits:1", "country"),
        ("Purposes:marketing:Computed:0", "orders_30d"),
        ("Purposes:marketing:Segments:0", "de"),
        ("Purposes:analytics:Traits:0", "*"),
        ("Purposes:analytics:Computed:0", "*"),
        ("Purposes:analytics:Segments:0", "*"),
        ("Purposes:service:Basis", "contract"),
        ("Purposes:service:Identifiers:0", "*"),
        ("Purposes:service:Traits:0", "country"),
        ("Purposes:service:Traits:1", "phone_note"),
        ("Store:CheckpointIntervalSeconds", "0"),
    ];

    static async Task<JsonElement> Json(HttpResponseMessage r) => (await r.Content.ReadFromJsonAsync<JsonElement>()).Clone();

    static async Task Seed(TestServer s, string user, string email)
    {
        using var i = await s.Http.PostAsJsonAsync("/v1/identify", new
        {
            userId = user,
            traits = new { email, first_name = "Ann", country = "DE", phone_note = "call after 6", secret_score = 7 },
        });
        Assert.Equal(HttpStatusCode.OK, i.StatusCode);
        using var t = await s.Http.PostAsJsonAsync("/v1/track", new { userId = user, @event = "Order Completed", properties = new { total = 30 } });
        Assert.Equal(HttpStatusCode.OK, t.StatusCode);
    }

    static async Task<HttpResponseMessage> SetConsent(TestServer s, string user, object body)
        => await s.Http.PutAsJsonAsync($"/v1/profiles/user_id/{user}/consent", body);

    static string[] Keys(JsonElement e, string property)
        => e.TryGetProperty(property, out var p) ? [.. (p.ValueKind == JsonValueKind.Array ? p.EnumerateArray().Select(x => x.GetString()!) : p.EnumerateObject().Select(x => x.Name)).Order()] : [];

    /// <summary>Every purpose x every consent state x both transports: the exact fields, or nothing.</summary>
    [Fact]
    public async Task Each_purpose_sees_exactly_its_fields_and_nothing_without_the_consent_it_needs()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings);
        using (var r = await s.Http.PutAsJsonAsync("/v1/segments/de", new { rule = "traits.country = \"DE\"" }))
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        using (var r = await s.Http.PutAsJsonAsync("/v1/segments/buyers", new { rule = "computed.orders_30d >= 1" }))
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        await s.Engine.Segments.WaitForBackfillsAsync();

        // none: never stated; granted; withdrawn after being granted; refused outright.
        string[] states = ["none", "granted", "withdrawn", "refused"];
        foreach (var state in states)
        {
            var user = "u-" + state;
            await Seed(s, user, $"{state}@x.com");
            if (state is "granted" or "withdrawn")
                Assert.Equal(HttpStatusCode.OK, (await SetConsent(s, user, new { marketing = true, analytics = true, source = "cmp" })).StatusCode);
            if (state is "withdrawn" or "refused")
                Assert.Equal(HttpStatusCode.OK, (await SetConsent(s, user, new { marketing = false, analytics = false })).StatusCode);
        }

        await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort });
        foreach (var state in states)
        {
            bool consented = state == "granted";
            foreach (var purpose in new[] { "marketing", "analytics", "service" })
            {
                (string[] Identifiers, string[] Traits, string[] Computed) expected = purpose switch
                {
                    "marketing" => (new[] { "email" }, new[] { "country", "first_name" }, new[] { "orders_30d" }),
                    "analytics" => (Array.Empty<string>(), new[] { "country", "email", "first_name", "phone_note", "secret_score" }, new[] { "orders_30d", "revenue" }),
                    _ => (new[] { "email", "user_id" }, new[] { "country", "phone_note" }, Array.Empty<string>()),
                };
                // Binary: the same answer, or Forbidden with nothing.
                if (purpose != "service" && !consented)
                {
                    var e = await Assert.ThrowsAsync<CdpException>(() => client.GetProfileAsync("user_id", $"u-{state}", purpose));
                    Assert.Equal(Status.Forbidden, e.Status);
                    Assert.Equal("no_consent", e.Code);
                }
                else
                {
                    var p = (await client.GetProfileAsync("user_id", $"u-{state}", purpose))!;
                    Assert.Equal(expected.Identifiers, p.Identifiers.Keys.Order());
                    Assert.Equal(expected.Traits, p.Traits.Keys.Order());
                    Assert.Equal(expected.Computed, p.Computed.Keys.Order());
                }
                using var r = await s.Http.GetAsync($"/v1/profiles/user_id/u-{state}?purpose={purpose}");
                var body = await Json(r);
                if (purpose != "service" && !consented)
                {
                    Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
                    Assert.Equal("no_consent", body.GetProperty("code").GetString());
                    // Nothing of the person: no id, traits or identifiers in the refusal.
                    Assert.False(body.TryGetProperty("traits", out _));
                    Assert.False(body.TryGetProperty("id", out _));
                    Assert.DoesNotContain($"{state}@x.com", body.GetRawText());
                    continue;
                }
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
                var (identifiers, traits, computed, segments) = purpose switch
                {
                    "marketing" => (new[] { "email" }, new[] { "country", "first_name" }, new[] { "orders_30d" }, new[] { "de" }),
                    "analytics" => (Array.Empty<string>(), new[] { "country", "email", "first_name", "phone_note", "secret_score" }, new[] { "orders_30d", "revenue" }, new[] { "buyers", "de" }),
                    _ => (new[] { "email", "user_id" }, new[] { "country", "phone_note" }, Array.Empty<string>(), Array.Empty<string>()),
                };
                Assert.Equal(identifiers, Keys(body, "identifiers"));
                Assert.Equal(traits, Keys(body, "traits"));
                Assert.Equal(computed, Keys(body, "computed"));
                Assert.Equal(segments, Keys(body, "segments"));
                Assert.DoesNotContain("consent:", body.GetRawText());
            }
        }

        using (var r = await s.Http.GetAsync("/v1/profiles/user_id/u-granted"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Equal("missing_field", (await Json(r)).GetProperty("code").GetString());
        }
        using (var r = await s.Http.GetAsync("/v1/profiles/user_id/u-granted?purpose=sales"))
            Assert.Equal("unknown_purpose", (await Json(r)).GetProperty("code").GetString());
        using (var r = await s.Http.GetAsync("/v1/profiles/user_id/nobody?purpose=service"))
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        Assert.Equal("missing_field", (await Assert.ThrowsAsync<CdpException>(() => client.GetProfileAsync("user_id", "u-granted"))).Code);

        // Exports too: only people who consented to the purpose, with only its fields.
        foreach (var path in new[] { "/v1/segments/de/export", "/v1/export" })
        {
            var lines = (await s.Http.GetStringAsync($"{path}?purpose=marketing")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => JsonDocument.Parse(l).RootElement).ToList();
            var only = Assert.Single(lines);
            Assert.Equal(["email"], Keys(only, "identifiers"));
            Assert.Equal(["country", "first_name"], Keys(only, "traits"));
            Assert.Equal(["orders_30d"], Keys(only, "computed"));
            var csv = (await s.Http.GetStringAsync($"{path}?purpose=marketing&format=csv")).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2, csv.Length);
            Assert.Equal("id,email,traits.country,traits.first_name,computed.orders_30d,createdAt,updatedAt", csv[0]);
            Assert.Equal(4, (await s.Http.GetStringAsync($"{path}?purpose=service")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            using var none = await s.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.BadRequest, none.StatusCode);
        }
        Assert.Equal("unknown_purpose", (await Assert.ThrowsAsync<CdpException>(() => client.GetProfileAsync("user_id", "u-granted", "sales"))).Code);
    }

    [Fact]
    public async Task Consent_is_recorded_with_source_and_time_and_bad_statements_change_nothing()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings);
        await Seed(s, "u1", "u1@x.com");
        using (var r = await SetConsent(s, "u1", new { marketing = true, source = "cmp", timestamp = "2026-05-01T10:00:00Z" }))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.True((await Json(r)).GetProperty("consent").GetProperty("marketing").GetBoolean());
        }
        foreach (var bad in new object[] { new { sales = true }, new { marketing = "yes" }, new { source = "cmp" }, new { marketing = true, timestamp = "soon" } })
        {
            using var r = await SetConsent(s, "u1", bad);
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        }
        using (var r = await s.Http.PostAsJsonAsync("/v1/identify", new { userId = "u1", traits = new Dictionary<string, object> { ["consent:marketing"] = false } }))
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);

        using var read = await s.Http.GetAsync("/v1/profiles/user_id/u1?purpose=analytics");
        Assert.Equal(HttpStatusCode.Forbidden, read.StatusCode);
        using var service = await s.Http.GetAsync("/v1/profiles/user_id/u1?purpose=service");
        var consent = (await Json(service)).GetProperty("consent");
        var marketing = consent.GetProperty("marketing");
        Assert.True(marketing.GetProperty("value").GetBoolean());
        Assert.Equal("cmp", marketing.GetProperty("source").GetString());
        Assert.Equal(DateTimeOffset.Parse("2026-05-01T10:00:00Z"), marketing.GetProperty("time").GetDateTimeOffset());
        Assert.False(consent.TryGetProperty("analytics", out _));

        // The Segment Spec's consent object: categories are purposes by name, case aside; others are not ours.
        using (var r = await s.Http.PostAsJsonAsync("/v1/track", new
        {
            userId = "u1",
            @event = "Page Viewed",
            context = new { consent = new { categoryPreferences = new Dictionary<string, bool> { ["Analytics"] = true, ["Advertising"] = false } } },
        }))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using var now = await s.Http.GetAsync("/v1/profiles/user_id/u1?purpose=analytics");
        Assert.Equal(HttpStatusCode.OK, now.StatusCode);

        // The binary protocol states consent on an Identify; an unknown purpose or a non-boolean changes nothing.
        await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort });
        await client.IdentifyAsync(new IdentifyRequest { Identifiers = new Dictionary<string, string> { ["user_id"] = "b1" }, Consent = new Dictionary<string, bool> { ["analytics"] = true }, Source = "app" });
        Assert.NotNull(await client.GetProfileAsync("user_id", "b1", "analytics"));
        Assert.Equal(Status.Forbidden, (await Assert.ThrowsAsync<CdpException>(() => client.GetProfileAsync("user_id", "b1", "marketing"))).Status);
        long journal = s.Engine.Journal.TailAddress;
        var refused = await Assert.ThrowsAsync<CdpException>(() => client.IdentifyAsync(new IdentifyRequest { Identifiers = new Dictionary<string, string> { ["user_id"] = "b1" }, Consent = new Dictionary<string, bool> { ["sales"] = true } }));
        Assert.Equal("unknown_purpose", refused.Code);
        Assert.Equal(journal, s.Engine.Journal.TailAddress);
    }

    [Fact]
    public async Task A_consent_change_moves_the_profile_in_and_out_of_segments_that_read_it_at_once()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings);
        using (var r = await s.Http.PutAsJsonAsync("/v1/segments/reachable", new { rule = "consent.marketing and traits.country = \"DE\"" }))
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        using (var r = await s.Http.PutAsJsonAsync("/v1/segments/typo", new { rule = "consent.marketin" }))
            Assert.Equal("invalid_rule", (await Json(r)).GetProperty("code").GetString());
        await s.Engine.Segments.WaitForBackfillsAsync();
        await Seed(s, "u1", "u1@x.com");
        Assert.Empty(Keys(await Json(await s.Http.GetAsync("/v1/profiles/user_id/u1/segments")), "segments"));
        await SetConsent(s, "u1", new { marketing = true });
        var segments = (await Json(await s.Http.GetAsync("/v1/profiles/user_id/u1/segments"))).GetProperty("segments");
        Assert.Equal("reachable", Assert.Single(segments.EnumerateArray()).GetProperty("name").GetString());
        await SetConsent(s, "u1", new { marketing = false });
        Assert.Empty((await Json(await s.Http.GetAsync("/v1/profiles/user_id/u1/segments"))).GetProperty("segments").EnumerateArray());
    }

    [Fact]
    public async Task Bad_purpose_configuration_stops_the_start_naming_the_setting()
    {
        foreach (var (key, value, expected) in new[]
        {
            ("Purposes:ads:Basis", "maybe", "Purposes:ads:Basis"),
            ("Purposes:ads:Computed:0", "nope", "Purposes:ads:Computed"),
            ("Purposes:ads:Identifiers:0", "passport", "Purposes:ads:Identifiers"),
            ("Purposes:ads:Traits:0", "consent:x", "Purposes:ads:Traits"),
        })
        {
            var e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(null, null, (key, value)));
            Assert.Contains(expected, e.Message);
        }
    }
}
