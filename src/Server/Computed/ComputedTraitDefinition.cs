using System.Security.Cryptography;
using System.Text;
using Cdp.Server.Hosting;

namespace Cdp.Server.Computed;

/// <summary>
/// A computed trait, validated: which events it selects, what it aggregates and over which window.
/// </summary>
/// <remarks>
/// <para>
/// A window of <c>n</c> buckets of width <c>B</c> holds, at time <c>t</c>, the events whose bucket
/// <c>floor(time / B)</c> lies in <c>(floor(t / B) - n, floor(t / B)]</c>: the current bucket and the
/// <c>n - 1</c> before it. So a value changes only at bucket boundaries (UTC), and exactly there,
/// whenever it is read; nothing is recomputed in batches.
/// </para>
/// <para>
/// An event's time for computed traits is its timestamp, but never later than when the server
/// received it: a source's clock running ahead cannot park an event in a future bucket.
/// </para>
/// </remarks>
public sealed class ComputedTraitDefinition
{
    /// <summary>Most buckets a window may have (bounds the state per profile).</summary>
    public const int MaxBuckets = 1024;
    /// <summary>Most buckets of a windowed first or last of a property (each keeps a value of up to <see cref="ComputedState.MaxValueBytes"/>).</summary>
    public const int MaxValueBuckets = 64;

    ComputedTraitDefinition(string name, ComputedFunction function, string? eventName, string? property,
        EventCondition[] conditions, long bucketMs, int bucketCount, int maxValues)
    {
        Name = name;
        Utf8Name = Encoding.UTF8.GetBytes(name);
        Function = function;
        EventName = eventName;
        Property = property;
        Conditions = conditions;
        BucketMs = bucketMs;
        BucketCount = bucketCount;
        MaxValues = maxValues;
    }

    /// <summary>The trait's name as read (<c>computed.{name}</c> in rules and projections).</summary>
    public string Name { get; }
    /// <summary><see cref="Name"/> in UTF-8.</summary>
    public byte[] Utf8Name { get; }
    /// <summary>What it aggregates.</summary>
    public ComputedFunction Function { get; }
    /// <summary>The event it selects; null for every event.</summary>
    public string? EventName { get; }
    /// <summary>The property aggregated; null when the function needs none.</summary>
    public string? Property { get; }
    /// <summary>Conditions on properties, all of which must hold.</summary>
    public EventCondition[] Conditions { get; }
    /// <summary>Bucket width in ms; 0 for all time.</summary>
    public long BucketMs { get; }
    /// <summary>Buckets in the window; 0 for all time.</summary>
    public int BucketCount { get; }
    /// <summary>Most distinct values tracked (distinct_count, most_frequent).</summary>
    public int MaxValues { get; }
    /// <summary>Whether the trait has a sliding window.</summary>
    public bool IsWindowed => BucketCount > 0;

    /// <summary>
    /// The key the trait's state is stored under: its name and a digest of its definition, so that
    /// a changed definition starts from fresh state instead of reading state of another meaning.
    /// </summary>
    public string StorageName { get; private set; } = "";

    /// <summary>Whether an event counts for this trait: its name matches and every condition holds.</summary>
    public bool Selects(string eventName, IReadOnlyList<(string Name, Cdp.Server.Profiles.TraitValue Value)> properties)
    {
        if (EventName is not null && !string.Equals(EventName, eventName, StringComparison.Ordinal))
            return false;
        foreach (var c in Conditions)
            if (!c.Matches(properties))
                return false;
        return true;
    }

    /// <summary>The value of <see cref="Property"/> among an event's properties; null when absent.</summary>
    public Cdp.Server.Profiles.TraitValue? PropertyValue(IReadOnlyList<(string Name, Cdp.Server.Profiles.TraitValue Value)> properties)
    {
        if (Property is null)
            return null;
        foreach (var (name, value) in properties)
            if (name == Property)
                return value;
        return null;
    }

    /// <summary>The bucket of an instant (0 for all-time traits).</summary>
    public long BucketOf(long unixMs)
    {
        if (BucketMs == 0)
            return 0;
        long q = unixMs / BucketMs;
        return unixMs % BucketMs < 0 ? q - 1 : q;
    }

    /// <summary>Whether bucket <paramref name="bucket"/> counts at <paramref name="nowMs"/>.</summary>
    public bool InWindow(long bucket, long nowMs)
    {
        if (BucketMs == 0)
            return true;
        long current = BucketOf(nowMs);
        return bucket <= current && bucket > current - BucketCount;
    }

    /// <summary>Whether bucket <paramref name="bucket"/> can never count again at or after <paramref name="nowMs"/>.</summary>
    public bool IsExpired(long bucket, long nowMs) => BucketMs != 0 && bucket <= BucketOf(nowMs) - BucketCount;

    /// <summary>
    /// When bucket <paramref name="bucket"/> next enters or leaves the window, after <paramref name="nowMs"/>;
    /// <see cref="long.MaxValue"/> when never.
    /// </summary>
    public long NextChangeOf(long bucket, long nowMs)
    {
        if (BucketMs == 0)
            return long.MaxValue;
        long current = BucketOf(nowMs);
        if (bucket > current)
            return bucket * BucketMs;
        if (bucket > current - BucketCount)
            return (bucket + BucketCount) * BucketMs;
        return long.MaxValue;
    }

    /// <summary>Validates one configured trait; throws <see cref="InvalidOperationException"/> naming the setting.</summary>
    public static ComputedTraitDefinition Create(string name, ComputedTraitOptions o)
    {
        string at = $"ComputedTraits:{name}";
        static InvalidOperationException Bad(string message) => new("Configuration error: " + message);
        if (string.IsNullOrWhiteSpace(name) || Encoding.UTF8.GetByteCount(name) > Cdp.Protocol.ProtocolLimits.MaxNameBytes)
            throw Bad($"computed trait names must be 1-{Cdp.Protocol.ProtocolLimits.MaxNameBytes} bytes ('{name}').");
        if (!ComputedFunctionNames.TryParse(o.Function ?? "", out var function))
            throw Bad($"{at}:Function '{o.Function}' is not one of count, sum, min, max, average, first, last, distinct_count, most_frequent.");
        string? property = string.IsNullOrWhiteSpace(o.Property) ? null : o.Property.Trim();
        if (function.NeedsProperty() && property is null)
            throw Bad($"{at}:Property is required for {o.Function}.");
        if (function == ComputedFunction.Count && property is not null)
            throw Bad($"{at}:Property is not used by count; select events with Where instead (e.g. \"{property} exists\").");
        string? eventName = string.IsNullOrWhiteSpace(o.Event) || o.Event.Trim() == "*" ? null : o.Event.Trim();
        var conditions = new EventCondition[o.Where.Count];
        for (int i = 0; i < conditions.Length; i++)
        {
            try
            {
                conditions[i] = EventCondition.Parse(o.Where[i]);
            }
            catch (FormatException e)
            {
                throw Bad($"{at}:Where:{i}: {e.Message}");
            }
        }
        long bucketMs = 0;
        int bucketCount = 0;
        if (!string.IsNullOrWhiteSpace(o.Window))
        {
            if (!DurationText.TryParse(o.Window, out long windowMs))
                throw Bad($"{at}:Window '{o.Window}' is not a duration such as 30d, 24h, 90m or 3600s.");
            if (string.IsNullOrWhiteSpace(o.Bucket))
                bucketMs = DefaultBucket(windowMs);
            else if (!DurationText.TryParse(o.Bucket, out bucketMs))
                throw Bad($"{at}:Bucket '{o.Bucket}' is not a duration such as 1d, 1h or 5m.");
            if (windowMs % bucketMs != 0)
                throw Bad($"{at}: Window {o.Window} is not a whole number of buckets of {o.Bucket}.");
            if (windowMs / bucketMs > MaxBuckets)
                throw Bad($"{at}: Window {o.Window} has {windowMs / bucketMs} buckets of {DurationText.Format(bucketMs)}; at most {MaxBuckets} are allowed (use a wider Bucket).");
            bucketCount = (int)(windowMs / bucketMs);
        }
        else if (!string.IsNullOrWhiteSpace(o.Bucket))
            throw Bad($"{at}:Bucket is set but Window is not.");
        if (function is ComputedFunction.First or ComputedFunction.Last && property is not null && bucketCount > MaxValueBuckets)
            throw Bad($"{at}: {o.Function} of a property keeps a value per bucket; a window of {bucketCount} buckets is more than {MaxValueBuckets} (use a wider Bucket).");
        if (o.MaxValues is < 1 or > 65_535)
            throw Bad($"{at}:MaxValues must be 1-65535, not {o.MaxValues}.");
        var d = new ComputedTraitDefinition(name, function, eventName, property, conditions, bucketMs, bucketCount, o.MaxValues);
        d.StorageName = "computed:" + name + "#" + d.Digest();
        return d;
    }

    /// <summary>1d, 1h, 1m or 1s: the largest that divides the window into at least two buckets.</summary>
    static long DefaultBucket(long windowMs)
    {
        foreach (long unit in new[] { 86_400_000L, 3_600_000L, 60_000L })
            if (windowMs % unit == 0 && windowMs / unit >= 2)
                return unit;
        return 1000;
    }

    string Digest()
    {
        var text = string.Join('\u001f', Function, EventName ?? "*", Property ?? "", BucketMs, BucketCount, MaxValues,
            string.Join('\u001e', Conditions.Select(c => c.Text)));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..12];
    }
}
