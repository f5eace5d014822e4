using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Client;
using Cdp.Server.Computed;
using Cdp.Server.Hosting;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Declared trait types, partial writes, provenance and computed values over both transports, and
/// the configuration errors of computed and derived traits.
/// </summary>
public sealed class DeclaredTraitTests
{
    static readonly (string, string)[] Declared =
    [
        ("Traits:Declared:age", "number"),
        ("Traits:Declared:vip", "bool"),
        ("Traits:Declared:tags", "list"),
        ("ComputedTraits:orders:Function", "count"),
        ("ComputedTraits:orders:Event", "Order Completed"),
        ("ComputedTraits:spent:Function", "sum"),
        ("ComputedTraits:spent:Event", "Order Completed"),
        ("ComputedTraits:spent:Property", "total"),
    ];

    [Fact]
    public async Task A_wrongly_typed_trait_rejects_the_whole_write_by_default_and_names_the_trait()
    {
        await using var s = await TestServer.StartAsync(null, Declared);
        long tail = s.Engine.Journal.TailAddress;
        using var r = await s.Http.PostAsJsonAsync("/v1/identify", new { userId = "u1", traits = new { age = "old", city = "Ulm" } });
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var problem = await r.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("wrong_type", problem.GetProperty("code").GetString());
        Assert.Equal("traits.age", problem.GetProperty("field").GetString());
        Assert.Contains("'age' is declared as number, not a string", problem.GetProperty("detail").GetString());
        Assert.Equal(tail, s.Engine.Journal.TailAddress);
        using var get = await s.Http.GetAsync("/v1/profiles/user_id/u1");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);

        // The same over the binary protocol.
        await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort });
        var e = await Assert.ThrowsAsync<CdpException>(() => client.IdentifyAsync(new IdentifyRequest
        {
            Identifiers = new Dictionary<string, string> { ["user_id"] = "u1" },
            Traits = new Dictionary<string, object?> { ["vip"] = 1, ["tags"] = new[] { "a" } },
        }));
        Assert.Equal("wrong_type", e.Code);
        Assert.Equal("traits.vip", e.Field);
        Assert.Equal(tail, s.Engine.Journal.TailAddress);
    }

    [Fact]
    public async Task With_partial_writes_the_good_traits_are_applied_and_the_answer_lists_the_dropped_ones()
    {
        await using var s = await TestServer.StartAsync(null, [.. Declared, ("Traits:PartialWrites", "true")]);
        using (var r = await s.Http.PostAsJsonAsync("/v1/identify", new { userId = "u2", traits = new { age = "old", city = "Ulm", vip = true } }))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var body = await r.Content.ReadFromJsonAsync<JsonElement>();
            var rejected = Assert.Single(body.GetProperty("rejected").EnumerateArray());
            Assert.Equal("traits.age", rejected.GetProperty("field").GetString());
            Assert.Equal("wrong_type", rejected.GetProperty("code").GetString());
        }
        var traits = (await s.Http.GetFromJsonAsync<JsonElement>("/v1/profiles/user_id/u2")).GetProperty("traits");
        Assert.Equal("Ulm", traits.GetProperty("city").GetString());
        Assert.True(traits.GetProperty("vip").GetBoolean());
        Assert.False(traits.TryGetProperty("age", out _));

        await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort });
        var result = await client.IdentifyAsync(new IdentifyRequest
        {
            Identifiers = new Dictionary<string, string> { ["user_id"] = "u2" },
            Traits = new Dictionary<string, object?> { ["age"] = 41, ["tags"] = "not-a-list" },
        });
        var dropped = Assert.Single(result.Rejected!);
        Assert.Equal("traits.tags", dropped.Field);
        var profile = await client.GetProfileAsync("user_id", "u2");
        Assert.Equal(41L, Convert.ToInt64(profile!.Traits["age"]));
        Assert.False(profile.Traits.ContainsKey("tags"));
        // A write without problems carries no "rejected".
        var clean = await client.IdentifyAsync(new IdentifyRequest { Identifiers = new Dictionary<string, string> { ["user_id"] = "u2" } });
        Assert.Null(clean.Rejected);
    }

    [Fact]
    public async Task The_binary_protocol_carries_the_source_and_returns_computed_values()
    {
        await using var s = await TestServer.StartAsync(null, Declared);
        await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort });
        await client.IdentifyAsync(new IdentifyRequest
        {
            Identifiers = new Dictionary<string, string> { ["email"] = "gus@x.com" },
            Traits = new Dictionary<string, object?> { ["age"] = 30.5 },
            Source = "crm",
        });
        for (int i = 1; i <= 3; i++)
            await client.TrackAsync(new TrackRequest
            {
                Identifiers = new Dictionary<string, string> { ["email"] = "gus@x.com" },
                Event = "Order Completed",
                Properties = new Dictionary<string, object?> { ["total"] = i * 10 },
                Source = "shop",
            });
        var profile = await client.GetProfileAsync("email", "gus@x.com");
        Assert.Equal(3L, Convert.ToInt64(profile!.Computed["orders"]));
        Assert.Equal(60L, Convert.ToInt64(profile.Computed["spent"]));
        var projected = await client.GetProfileAsync("email", "gus@x.com", ["computed.spent"]);
        Assert.Equal(["spent"], projected!.Computed.Keys);
        Assert.Empty(projected.Traits);

        var age = (await s.Http.GetFromJsonAsync<JsonElement>("/v1/profiles/email/gus@x.com?provenance=true"))
            .GetProperty("traits").GetProperty("age");
        Assert.Equal("crm", age.GetProperty("source").GetString());

        var e = await Assert.ThrowsAsync<CdpException>(() => client.IdentifyAsync(new IdentifyRequest
        {
            Identifiers = new Dictionary<string, string> { ["email"] = "gus@x.com" },
            Source = new string('s', 300),
        }));
        Assert.Equal("too_long", e.Code);
    }

    public static TheoryData<string, string, string> BadComputedTraits => new()
    {
        { "Function", "median", "ComputedTraits:x:Function 'median' is not one of" },
        { "Window", "30 days", "ComputedTraits:x:Window '30 days' is not a duration" },
        { "Window", "0d", "ComputedTraits:x:Window '0d' is not a duration" },
        { "Bucket", "7h", "Window 30d is not a whole number of buckets of 7h" },
        { "Where:0", "revenue >> 5", "ComputedTraits:x:Where:0: condition 'revenue >> 5', column 10: expected a value" },
        { "Where:0", "sku > \"A\"", "strings and booleans take = or !=" },
        { "Where:0", "= 5", "column 1: expected a property name" },
        { "Where:0", "name = \"open", "expected a closing quote" },
        { "MaxValues", "0", "MaxValues must be 1-65535" },
    };

    [Theory]
    [MemberData(nameof(BadComputedTraits))]
    public void A_bad_computed_trait_is_a_configuration_error_naming_the_setting(string key, string value, string expected)
    {
        var o = new ComputedTraitOptions { Function = "count", Event = "Order Completed", Window = "30d" };
        switch (key)
        {
            case "Function": o.Function = value; break;
            case "Window": o.Window = value; break;
            case "Bucket": o.Bucket = value; break;
            case "Where:0": o.Where.Add(value); break;
            case "MaxValues": o.MaxValues = int.Parse(value); break;
        }
        var e = Assert.Throws<InvalidOperationException>(() => ComputedTraitDefinition.Create("x", o));
        Assert.StartsWith("Configuration error: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("ComputedTraits:s:Function", "sum", "ComputedTraits:s:Property is required for sum")]
    [InlineData("DerivedTraits:d:DaysSince", "computed.nope", "names computed.nope, which is not configured")]
    [InlineData("DerivedTraits:d:DaysSince", "visits", "must name traits.<name> or computed.<name>")]
    [InlineData("Traits:Declared:age", "integer", "Traits:Declared:age is 'integer'")]
    public async Task The_server_refuses_to_start_on_a_bad_trait_configuration(string key, string value, string expected)
    {
        var dir = TestServer.NewDataDir();
        try
        {
            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => TestServer.StartAsync(dir, (key, value)));
            Assert.Contains(expected, e.Message);
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task Days_since_must_read_a_timestamp()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => TestServer.StartAsync(dir,
                ("ComputedTraits:top:Function", "most_frequent"), ("ComputedTraits:top:Property", "sku"),
                ("DerivedTraits:d:DaysSince", "computed.top")));
            Assert.Contains("is not a first or last without a Property", e.Message);
            e = await Assert.ThrowsAsync<InvalidOperationException>(() => TestServer.StartAsync(dir,
                ("Traits:Declared:born", "string"), ("DerivedTraits:d:DaysSince", "traits.born")));
            Assert.Contains("declared as string, not timestamp", e.Message);
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }
}
