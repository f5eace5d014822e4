using System.Globalization;
using Cdp.Server.Matching;
using Cdp.Server.Profiles;
using Cdp.Server.Schema;

namespace Cdp.Server.Engine;

/// <summary>
/// Turns traits (a write's, or a stored profile's) into the text the matcher compares: strings as
/// they are, numbers and timestamps in invariant form (a birth date sent as 19560409 or as an ISO
/// timestamp both end up comparable as dates), lists, booleans and nulls not at all.
/// </summary>
static class MatchInput
{
    /// <summary>The match record of a write's traits.</summary>
    public static MatchRecord FromWrite(MatchModel model, List<(string Name, TraitValue Value)> traits)
    {
        var pairs = new List<KeyValuePair<string, string>>(traits.Count);
        foreach (var (name, value) in traits)
            if (Text(value.Kind, value.Text, value.Integer, value.Number) is { } text)
                pairs.Add(new(name, text));
        return model.Read(pairs);
    }

    /// <summary>The match record of a stored profile's current traits.</summary>
    public static MatchRecord FromRecord(MatchModel model, ReadOnlySpan<byte> record, SchemaRegistry schema, SharedValueTable values)
    {
        var pairs = new List<KeyValuePair<string, string>>();
        var reader = new ProfileRecordReader(record, values);
        while (reader.NextTrait(out var trait))
        {
            string? text = trait.Kind switch
            {
                TraitKind.String => System.Text.Encoding.UTF8.GetString(trait.Utf8),
                TraitKind.Int or TraitKind.Timestamp => Text(trait.Kind, null, trait.Integer, 0),
                TraitKind.Double => Text(trait.Kind, null, 0, trait.Number),
                _ => null,
            };
            if (text is not null)
                pairs.Add(new(schema.GetName(trait.NameId), text));
        }
        return model.Read(pairs);
    }

    static string? Text(TraitKind kind, string? text, long integer, double number) => kind switch
    {
        TraitKind.String => text,
        TraitKind.Int => integer.ToString(CultureInfo.InvariantCulture),
        TraitKind.Double => number.ToString("R", CultureInfo.InvariantCulture),
        TraitKind.Timestamp => DateTimeOffset.FromUnixTimeMilliseconds(integer).UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture),
        _ => null,
    };
}
