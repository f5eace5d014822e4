using Cdp.Server.Schema;

namespace Cdp.Server.Profiles;

/// <summary>How a trait's value survives when two values meet (a write, or the merge of two profiles).</summary>
public enum SurvivorshipRule : byte
{
    /// <summary>The value with the later event time; on equal times the later write.</summary>
    Latest = 0,
    /// <summary>The value with the earlier event time (first seen); on equal times the one already held.</summary>
    First = 1,
    /// <summary>The larger value (numbers, timestamps, strings by ordinal); other kinds fall back to latest.</summary>
    Max = 2,
    /// <summary>The smaller value; other kinds fall back to latest.</summary>
    Min = 3,
    /// <summary>Lists: every item of both, the held items first; other kinds fall back to latest.</summary>
    Union = 4,
    /// <summary>The value whose source ranks higher in the configured order; equal ranks: latest.</summary>
    Source = 5,
}

/// <summary>
/// The per-trait survivorship rules of <c>Cdp:Traits:Survivorship</c>, by trait name id, used by
/// every merge of trait values so that a write and a profile merge decide alike. Each rule is a
/// pure function of the two values and their order, so the journal replays to the same bytes.
/// </summary>
public sealed class TraitSurvivorship
{
    /// <summary>Most items a union keeps; the oldest go first beyond it, so a list cannot outgrow the profile.</summary>
    public const int MaxUnionItems = 1000;

    /// <summary>Every trait by its latest value.</summary>
    public static readonly TraitSurvivorship Default = new([], []);

    readonly SurvivorshipRule[] rules;
    readonly Dictionary<int, int>?[] sourceRanks;

    TraitSurvivorship(SurvivorshipRule[] rules, Dictionary<int, int>?[] sourceRanks)
    {
        this.rules = rules;
        this.sourceRanks = sourceRanks;
    }

    /// <summary>
    /// Builds the rules from <c>trait → rule</c> settings: <c>latest</c>, <c>first</c>, <c>max</c>,
    /// <c>min</c>, <c>union</c> or <c>source:crm,shop,web</c> (highest first). Names are interned so
    /// the rules are looked up by id; <paramref name="internSource"/> interns a source name.
    /// </summary>
    public static TraitSurvivorship Create(IReadOnlyDictionary<string, string> settings, SchemaRegistry schema, Func<string, int> internSource)
    {
        if (settings.Count == 0)
            return Default;
        var parsed = new List<(ushort Id, SurvivorshipRule Rule, Dictionary<int, int>? Ranks)>();
        foreach (var (trait, text) in settings.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            string setting = $"Traits:Survivorship:{trait}";
            var value = (text ?? "").Trim();
            Dictionary<int, int>? ranks = null;
            SurvivorshipRule rule;
            if (value.StartsWith("source:", StringComparison.OrdinalIgnoreCase))
            {
                var sources = value["source:".Length..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                if (sources.Length == 0)
                    throw new InvalidOperationException($"Configuration error: {setting}: 'source:' needs the sources in order, highest first, e.g. source:crm,shop,web.");
                ranks = [];
                for (int i = 0; i < sources.Length; i++)
                    if (!ranks.TryAdd(internSource(sources[i]), sources.Length - i))
                        throw new InvalidOperationException($"Configuration error: {setting}: source '{sources[i]}' is listed twice.");
                rule = SurvivorshipRule.Source;
            }
            else
            {
                rule = value.ToLowerInvariant() switch
                {
                    "latest" => SurvivorshipRule.Latest,
                    "first" => SurvivorshipRule.First,
                    "max" => SurvivorshipRule.Max,
                    "min" => SurvivorshipRule.Min,
                    "union" => SurvivorshipRule.Union,
                    _ => throw new InvalidOperationException(
                        $"Configuration error: {setting}: '{value}' is not a survivorship rule (latest, first, max, min, union, or source:a,b,c)."),
                };
            }
            parsed.Add((schema.Intern(trait, setting), rule, ranks));
        }
        int size = parsed.Max(p => p.Id) + 1;
        var rules = new SurvivorshipRule[size];
        var sourceRanks = new Dictionary<int, int>?[size];
        foreach (var (id, rule, ranks) in parsed)
        {
            rules[id] = rule;
            sourceRanks[id] = ranks;
        }
        return new TraitSurvivorship(rules, sourceRanks);
    }

    /// <summary>The rule of a trait.</summary>
    public SurvivorshipRule RuleOf(ushort nameId) => nameId < rules.Length ? rules[nameId] : SurvivorshipRule.Latest;

    /// <summary>
    /// Writes what survives of <paramref name="held"/> (the record's value) and
    /// <paramref name="incoming"/> (the delta's); false when <paramref name="w"/> is full.
    /// </summary>
    public bool Write(ref SpanWriter w, in TraitEntry held, in TraitEntry incoming)
    {
        var rule = RuleOf(held.NameId);
        bool latestIsIncoming = !(held.Time > incoming.Time);
        switch (rule)
        {
            case SurvivorshipRule.First:
                return w.TryWriteTrait(incoming.Time < held.Time ? incoming : held);
            case SurvivorshipRule.Max or SurvivorshipRule.Min when Compare(held, incoming) is { } c:
                if (c == 0)
                    return w.TryWriteTrait(latestIsIncoming ? incoming : held);
                return w.TryWriteTrait((c < 0) == (rule == SurvivorshipRule.Max) ? incoming : held);
            case SurvivorshipRule.Union when held.Kind == TraitKind.StringList && incoming.Kind == TraitKind.StringList:
                return WriteUnion(ref w, held, incoming);
            case SurvivorshipRule.Source:
                var ranks = sourceRanks[held.NameId]!;
                int a = ranks.GetValueOrDefault(held.Source), b = ranks.GetValueOrDefault(incoming.Source);
                if (a != b)
                    return w.TryWriteTrait(b > a ? incoming : held);
                return w.TryWriteTrait(latestIsIncoming ? incoming : held);
            default:
                return w.TryWriteTrait(latestIsIncoming ? incoming : held);
        }
    }

    /// <summary>Orders two values of comparable kinds; null when they cannot be compared.</summary>
    static int? Compare(in TraitEntry a, in TraitEntry b)
    {
        static double? Number(in TraitEntry t) => t.Kind switch
        {
            TraitKind.Int or TraitKind.Timestamp => t.Integer,
            TraitKind.Double => t.Number,
            _ => null,
        };
        if (a.Kind == TraitKind.String && b.Kind == TraitKind.String)
            return Math.Sign(a.Utf8.SequenceCompareTo(b.Utf8));
        if (Number(a) is { } x && Number(b) is { } y && (a.Kind == TraitKind.Timestamp) == (b.Kind == TraitKind.Timestamp))
            return x.CompareTo(y);
        return null;
    }

    static bool WriteUnion(ref SpanWriter w, in TraitEntry held, in TraitEntry incoming)
    {
        var items = new List<byte[]>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        // Items are written as they read (shared ones as their bytes): a union is rewritten on every
        // write that meets it, and it has no profile id here to count towards sharing.
        Collect(held.List, items, seen);
        Collect(incoming.List, items, seen);
        if (items.Count > MaxUnionItems)
            items.RemoveRange(0, items.Count - MaxUnionItems);
        var later = held.Time > incoming.Time ? held : incoming;
        if (!w.TryWriteTraitHeader(held.NameId, TraitKind.StringList, Math.Max(held.Time, incoming.Time), later.Source)
            || !w.TryWriteVarint((ulong)items.Count))
            return false;
        foreach (var item in items)
            if (!w.TryWriteVarint((ulong)item.Length) || !w.TryWrite(item))
                return false;
        return true;
    }

    static void Collect(StringListReader list, List<byte[]> items, HashSet<string> seen)
    {
        while (list.Next(out var item))
            if (seen.Add(System.Text.Encoding.UTF8.GetString(item)))
                items.Add(item.ToArray());
    }
}
