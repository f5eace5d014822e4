namespace Cdp.Server.Hosting;

/// <summary>Declared traits: their types and what a write with a wrongly typed value does.</summary>
public sealed class TraitsOptions
{
    /// <summary>
    /// Trait name to type: <c>string</c>, <c>number</c>, <c>bool</c>, <c>timestamp</c> or <c>list</c>
    /// (a list of strings). Traits not declared here take any type.
    /// </summary>
    public Dictionary<string, string> Declared { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// When false (the default) a write with a wrongly typed trait is rejected whole; when true the
    /// wrong traits are dropped, the rest is applied and the answer lists what was dropped.
    /// </summary>
    public bool PartialWrites { get; set; }

    /// <summary>
    /// Trait name to survivorship rule, used when a write or a merge meets a value the profile has:
    /// <c>latest</c> (the default: later event time), <c>first</c>, <c>max</c>, <c>min</c>,
    /// <c>union</c> (lists) or <c>source:crm,shop,web</c> (highest priority first).
    /// </summary>
    public Dictionary<string, string> Survivorship { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>One computed trait as configured under <c>Cdp:ComputedTraits:{name}</c>.</summary>
public sealed class ComputedTraitOptions
{
    /// <summary>count, sum, min, max, average, first, last, distinct_count or most_frequent.</summary>
    public string Function { get; set; } = "";
    /// <summary>The event name it counts (page views are "Page Viewed", screens "Screen Viewed"); empty or <c>*</c>: every event.</summary>
    public string? Event { get; set; }
    /// <summary>The property aggregated (flattened name, e.g. <c>revenue</c>); first/last without one give the event's time.</summary>
    public string? Property { get; set; }
    /// <summary>Conditions on the event's properties, all of which must hold: <c>revenue &gt; 100</c>, <c>currency = "EUR"</c>, <c>coupon exists</c>.</summary>
    public List<string> Where { get; set; } = [];
    /// <summary>Sliding window (<c>30d</c>, <c>24h</c>, <c>90m</c>); empty: all time.</summary>
    public string? Window { get; set; }
    /// <summary>Bucket width of the window; the window moves in these steps. Default: 1d, 1h, 1m or 1s, the largest that divides the window into at least two buckets.</summary>
    public string? Bucket { get; set; }
    /// <summary>distinct_count and most_frequent: most values tracked per profile; more are not counted. Default 256.</summary>
    public int MaxValues { get; set; } = 256;
}

/// <summary>A value derived at read time, configured under <c>Cdp:DerivedTraits:{name}</c>.</summary>
public sealed class DerivedTraitOptions
{
    /// <summary>Whole calendar days since a timestamp: <c>traits.signup_at</c> or <c>computed.last_visit</c>.</summary>
    public string DaysSince { get; set; } = "";
    /// <summary>IANA time zone whose midnights count the days. Default UTC.</summary>
    public string TimeZone { get; set; } = "UTC";
}
