using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Server.Matching;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Fuzzy matching inside the real server: a write that carries no shared identifier but describes a
/// known person (typos, a missing field) lands on that person's profile; the identity rules still
/// hold; candidates are listed with their evidence; the index is rebuilt after a restart.
/// </summary>
public sealed class FuzzyMatchingTests
{
    /// <summary><see cref="MatchingOptions.Febrl"/> as configuration settings.</summary>
    static (string, string)[] Settings(bool autoMerge = true)
    {
        var options = MatchingOptions.Febrl();
        options.AutoMerge = autoMerge;
        var settings = new List<(string, string)>();
        void Flatten(string path, JsonElement e)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var p in e.EnumerateObject())
                        Flatten(path + ":" + p.Name, p.Value);
                    break;
                case JsonValueKind.Array:
                    int i = 0;
                    foreach (var item in e.EnumerateArray())
                        Flatten(path + ":" + i++, item);
                    break;
                case JsonValueKind.Null:
                    break;
                default:
                    settings.Add((path, e.ToString()));
                    break;
            }
        }
        Flatten("Matching", JsonSerializer.SerializeToElement(options));
        return [.. settings];
    }

    static object Kayla(string anonymousId, string first, string street, string? number) => new { anonymousId, traits = KaylaTraits(first, street, number) };

    static Dictionary<string, object?> KaylaTraits(string first, string street, string? number) => new Dictionary<string, object?>
        {
            ["firstName"] = first, ["lastName"] = "harrington", ["streetNumber"] = number, ["address1"] = street,
            ["address2"] = "coaling", ["city"] = "coolaroo", ["postcode"] = "3465", ["state"] = "nsw",
            ["birthDate"] = "19150612", ["ssn"] = "9004242",
        }.Where(kv => kv.Value is not null).ToDictionary(kv => kv.Key, kv => kv.Value);

    static async Task<string> Identify(TestServer s, object body)
    {
        using var r = await s.Http.PostAsJsonAsync("/v1/identify", body);
        var text = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task A_typo_d_record_without_a_shared_identifier_lands_on_the_person_and_a_stranger_does_not()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            string kayla;
            await using (var s = await TestServer.StartAsync(dir, Settings()))
            {
                kayla = await Identify(s, Kayla("r1", "kayla", "maltby circuit", "38"));
                // Missing street number, "kayal" for "kayla": same person.
                Assert.Equal(kayla, await Identify(s, Kayla("r2", "kayal", "maltby circuit", null)));
                var stranger = await Identify(s, new { anonymousId = "r3", traits = new { firstName = "lachlan", lastName = "berry", birthDate = "19990219", postcode = "4814", city = "bittern" } });
                Assert.NotEqual(kayla, stranger);
                var profile = JsonDocument.Parse(await s.Http.GetStringAsync("/v1/profiles/anonymous_id/r2")).RootElement;
                Assert.Equal(kayla, profile.GetProperty("id").GetString());
                Assert.Equal(["r1", "r2"], profile.GetProperty("identifiers").GetProperty("anonymous_id").EnumerateArray().Select(v => v.GetString()).Order());
            }
            // The index is rebuilt from the stored profiles: a third spelling still finds her.
            await using (var s = await TestServer.StartAsync(dir, Settings()))
                Assert.Equal(kayla, await Identify(s, Kayla("r4", "kayla", "maltby circ", "38")));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task Matches_lists_candidates_with_evidence_and_auto_merge_respects_the_identity_rules()
    {
        await using var s = await TestServer.StartAsync(null, Settings());
        var first = await Identify(s, new { userId = "u-1", traits = KaylaTraits("kayla", "maltby circuit", "38") });
        // Same person by every attribute, but another user id: user_id allows one value, so no merge.
        var second = await Identify(s, new { userId = "u-2", traits = KaylaTraits("kayla", "maltby circuit", "38") });
        Assert.NotEqual(first, second);

        var matches = JsonDocument.Parse(await s.Http.GetStringAsync("/v1/profiles/user_id/u-2/matches")).RootElement;
        Assert.Equal(second, matches.GetProperty("id").GetString());
        var candidate = Assert.Single(matches.GetProperty("candidates").EnumerateArray());
        Assert.Equal(first, candidate.GetProperty("id").GetString());
        Assert.True(candidate.GetProperty("score").GetDouble() >= 30);
        var evidence = candidate.GetProperty("evidence").EnumerateArray().ToDictionary(e => e.GetProperty("attribute").GetString()!);
        Assert.Equal(1.0, evidence["birthDate"].GetProperty("similarity").GetDouble());
        Assert.Equal("19150612", evidence["birthDate"].GetProperty("candidateValue").GetString());
        Assert.True(evidence["lastName"].GetProperty("weight").GetDouble() > 0);

        using var bad = await s.Http.GetAsync("/v1/profiles/user_id/u-2/matches?limit=0");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        using var none = await s.Http.GetAsync("/v1/profiles/user_id/nobody/matches");
        Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
    }

    [Fact]
    public async Task Without_auto_merge_writes_stay_apart_and_with_matching_off_matches_says_so()
    {
        await using (var s = await TestServer.StartAsync(null, Settings(autoMerge: false)))
        {
            var a = await Identify(s, Kayla("r1", "kayla", "maltby circuit", "38"));
            var b = await Identify(s, Kayla("r2", "kayal", "maltby circuit", null));
            Assert.NotEqual(a, b);
            var matches = JsonDocument.Parse(await s.Http.GetStringAsync("/v1/profiles/anonymous_id/r2/matches")).RootElement;
            var top = matches.GetProperty("candidates")[0];
            Assert.Equal(a, top.GetProperty("id").GetString());
            Assert.False(top.GetProperty("autoMerge").GetBoolean());
        }
        await using (var off = await TestServer.StartAsync())
        {
            await Identify(off, Kayla("r1", "kayla", "maltby circuit", "38"));
            using var r = await off.Http.GetAsync("/v1/profiles/anonymous_id/r1/matches");
            Assert.Equal(HttpStatusCode.Conflict, r.StatusCode);
            Assert.Contains("Cdp:Matching:Enabled", await r.Content.ReadAsStringAsync());
        }
    }
}
