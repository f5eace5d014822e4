using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// The right of access over HTTP: one document with every trait and its provenance, identifiers,
/// consent now and every consent statement, segments with since when, and every event with its
/// properties, including the writes of profiles merged into this one.
/// </summary>
public sealed class AccessExportTests
{
    static readonly (string, string)[] Settings =
    [
        ("Purposes:marketing:Traits:0", "*"),
        ("Identity:Rules:email:MaxValues", "5"),
        ("Traits:Declared:name", "string"),
        ("Store:CheckpointIntervalSeconds", "0"),
    ];

    [Fact]
    public async Task The_access_export_holds_traits_with_provenance_consent_history_segments_and_events()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings);
        using (var r = await s.Http.PutAsJsonAsync("/v1/segments/named", new { rule = "exists(traits.name)" }))
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        await s.Engine.Segments.WaitForBackfillsAsync();
        async Task Post(string path, object body)
        {
            using var r = await s.Http.PostAsJsonAsync(path, body);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }
        await Post("/v1/identify", new { userId = "u1", traits = new { name = "Ann Example", email = "ann@x.com" }, source = "crm" });
        await Post("/v1/track", new { userId = "u1", @event = "Order Completed", properties = new { total = 42.5, sku = "A-1" } });
        // A second profile that later merges in: its writes belong to the person too.
        await Post("/v1/track", new { anonymousId = "anon-7", @event = "Page Viewed", properties = new { path = "/shoes" } });
        await Post("/v1/identify", new { anonymousId = "anon-7", traits = new { email = "ann@x.com" } });
        using (var r = await s.Http.PutAsJsonAsync("/v1/profiles/user_id/u1/consent", new { marketing = true, source = "cmp" }))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await s.Http.PutAsJsonAsync("/v1/profiles/user_id/u1/consent", new { marketing = false, source = "cmp" }))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);

        using var export = await s.Http.GetAsync("/v1/profiles/email/ann@x.com/export");
        Assert.Equal(HttpStatusCode.OK, export.StatusCode);
        var doc = (await export.Content.ReadFromJsonAsync<JsonElement>());
        var profile = doc.GetProperty("profile");
        var name = profile.GetProperty("traits").GetProperty("name");
        Assert.Equal("Ann Example", name.GetProperty("value").GetString());
        Assert.Equal("crm", name.GetProperty("source").GetString());
        Assert.Equal(["anon-7"], profile.GetProperty("identifiers").GetProperty("anonymous_id").EnumerateArray().Select(x => x.GetString()));
        Assert.False(profile.GetProperty("consent").GetProperty("marketing").GetProperty("value").GetBoolean());
        Assert.Equal("named", Assert.Single(doc.GetProperty("segments").EnumerateArray()).GetProperty("name").GetString());
        Assert.False(doc.TryGetProperty("historyMissing", out _));

        var writes = doc.GetProperty("writes").EnumerateArray().ToList();
        Assert.Equal(6, writes.Count);
        var events = writes.Where(w => w.TryGetProperty("event", out _)).ToList();
        Assert.Equal(["Order Completed", "Page Viewed"], events.Select(e => e.GetProperty("event").GetString()).Order());
        Assert.Equal(42.5, events.Single(e => e.GetProperty("event").GetString() == "Order Completed").GetProperty("properties").GetProperty("total").GetDouble());
        Assert.Equal("/shoes", events.Single(e => e.GetProperty("event").GetString() == "Page Viewed").GetProperty("properties").GetProperty("path").GetString());
        var consentHistory = writes.Where(w => w.TryGetProperty("consent", out _)).Select(w => w.GetProperty("consent").GetProperty("marketing").GetBoolean()).ToList();
        Assert.Equal([true, false], consentHistory);
        // Consent statements are not traits, in the writes either.
        Assert.DoesNotContain(writes, w => w.TryGetProperty("traits", out var t) && t.GetRawText().Contains("consent"));

        using var missing = await s.Http.GetAsync("/v1/profiles/email/nobody@x.com/export");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }
}
