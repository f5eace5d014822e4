using System.Globalization;

namespace Cdp.LoadTests.Profiles;

/// <summary>
/// The one definition of the profiles every target is filled with: <c>user{i}@example.com</c> with twenty traits of
/// every value type, so a lookup returns a realistically sized, mixed body. Derived from the index, not random, so
/// every load writes the same data and Cdp, Redis and Garnet hold the same content.
/// </summary>
internal static class SampleProfile
{
    private static readonly string[] Plans = ["free", "starter", "pro", "enterprise"];
    private static readonly string[] Countries = ["DE", "FR", "NL", "US", "GB", "PL", "SE"];
    private static readonly string[] Cities = ["Kiel", "Paris", "Utrecht", "Austin", "Leeds", "Gdansk", "Malmo"];

    public static string Email(int index) => $"user{index}@example.com";

    public static string UserId(int index) => "u" + index;

    /// <summary>The traits as Cdp takes them: typed values, one nested map (<c>company</c>), one string array (<c>tags</c>).</summary>
    public static Dictionary<string, object?> Traits(int index)
    {
        var since = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(index * 7L % 2_000_000);
        return new Dictionary<string, object?>
        {
            ["name"] = $"User {index}",
            ["plan"] = Plans[index % Plans.Length],
            ["seats"] = 1 + index % 250,
            ["mrr"] = Math.Round(9.99 * (1 + index % 40), 2),
            ["vip"] = index % 17 == 0,
            ["country"] = Countries[index % Countries.Length],
            ["city"] = Cities[index % Cities.Length],
            ["signupAt"] = since,
            ["lastSeenAt"] = since.AddDays(index % 400).AddMilliseconds(index % 1000),
            ["tags"] = new[] { "beta", index % 2 == 0 ? "even" : "odd", "cohort-" + index % 12 },
            ["score"] = index % 1000 / 10.0,
            ["age"] = 18 + index % 60,
            ["locale"] = index % 3 == 0 ? "de-DE" : "en-US",
            ["newsletter"] = index % 4 != 0,
            ["referrer"] = index % 5 == 0 ? null : "https://example.com/r/" + index % 97,
            ["company"] = new Dictionary<string, object?> { ["name"] = "Company " + index % 500, ["size"] = 10 + index % 5000 },
            ["lifetimeValue"] = index * 1.37 % 10_000,
            ["orders"] = index % 90,
            ["segment"] = "segment-" + index % 20,
            ["device"] = index % 2 == 0 ? "ios" : "android",
        };
    }

    /// <summary>
    /// The same traits as hash fields for Redis and Garnet, which store only strings: nested maps under dotted names
    /// (as Cdp stores them), arrays comma-joined, timestamps in ISO 8601, null as the empty string. 21 fields.
    /// </summary>
    public static List<KeyValuePair<string, string>> HashFields(int index)
    {
        var fields = new List<KeyValuePair<string, string>>(24);
        Flatten("", Traits(index), fields);
        return fields;
    }

    private static void Flatten(string prefix, Dictionary<string, object?> traits, List<KeyValuePair<string, string>> fields)
    {
        foreach (var (name, value) in traits)
        {
            if (value is Dictionary<string, object?> nested)
                Flatten(prefix + name + ".", nested, fields);
            else
                fields.Add(new(prefix + name, AsString(value)));
        }
    }

    private static string AsString(object? value) => value switch
    {
        null => "",
        string s => s,
        bool b => b ? "true" : "false",
        DateTimeOffset t => t.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
        string[] list => string.Join(',', list),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
