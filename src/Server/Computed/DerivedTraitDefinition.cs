using System.Text;
using Cdp.Server.Hosting;

namespace Cdp.Server.Computed;

/// <summary>
/// A value derived when read: whole calendar days since a timestamp trait or computed trait, in a
/// configured time zone. "Calendar" days: at 00:30 the day after an event at 23:50 it is 1, and a
/// day with a daylight-saving change is one day, whatever its hours.
/// </summary>
public sealed class DerivedTraitDefinition
{
    DerivedTraitDefinition(string name, string source, bool fromComputed, TimeZoneInfo zone)
    {
        Name = name;
        Utf8Name = Encoding.UTF8.GetBytes(name);
        SourceName = source;
        FromComputed = fromComputed;
        Zone = zone;
    }

    /// <summary>The value's name (read under <c>computed</c>).</summary>
    public string Name { get; }
    /// <summary><see cref="Name"/> in UTF-8.</summary>
    public byte[] Utf8Name { get; }
    /// <summary>Name of the trait or computed trait it reads.</summary>
    public string SourceName { get; }
    /// <summary>Whether <see cref="SourceName"/> is a computed trait (else a trait).</summary>
    public bool FromComputed { get; }
    /// <summary>The zone whose midnights count.</summary>
    public TimeZoneInfo Zone { get; }

    /// <summary>Whole calendar days in <see cref="Zone"/> from <paramref name="fromMs"/> to <paramref name="nowMs"/> (negative if from is later).</summary>
    public long DaysSince(long fromMs, long nowMs) => LocalDay(nowMs) - LocalDay(fromMs);

    /// <summary>The next local midnight after <paramref name="nowMs"/>, when <see cref="DaysSince"/> next changes.</summary>
    public long NextChange(long nowMs)
    {
        var local = TimeZoneInfo.ConvertTime(DateTimeOffset.FromUnixTimeMilliseconds(nowMs), Zone);
        var midnight = local.Date.AddDays(1);
        // Where the clocks jump at midnight the day starts at the first valid minute.
        while (Zone.IsInvalidTime(midnight))
            midnight = midnight.AddMinutes(1);
        // Where the clocks fall back over midnight, the day starts at the first of the two midnights.
        var offset = Zone.IsAmbiguousTime(midnight) ? Zone.GetAmbiguousTimeOffsets(midnight).Max() : Zone.GetUtcOffset(midnight);
        return new DateTimeOffset(DateTime.SpecifyKind(midnight, DateTimeKind.Unspecified), offset).ToUnixTimeMilliseconds();
    }

    long LocalDay(long unixMs)
    {
        var local = TimeZoneInfo.ConvertTime(DateTimeOffset.FromUnixTimeMilliseconds(unixMs), Zone);
        return DateOnly.FromDateTime(local.DateTime).DayNumber;
    }

    /// <summary>Validates one configured value.</summary>
    public static DerivedTraitDefinition Create(string name, DerivedTraitOptions o)
    {
        static InvalidOperationException Bad(string message) => new("Configuration error: " + message);
        string at = $"DerivedTraits:{name}";
        var source = (o.DaysSince ?? "").Trim();
        bool fromComputed;
        if (source.StartsWith("traits.", StringComparison.Ordinal))
            fromComputed = false;
        else if (source.StartsWith("computed.", StringComparison.Ordinal))
            fromComputed = true;
        else
            throw Bad($"{at}:DaysSince must name traits.<name> or computed.<name>, not '{o.DaysSince}'.");
        source = source[(source.IndexOf('.') + 1)..];
        if (source.Length == 0)
            throw Bad($"{at}:DaysSince names no trait.");
        TimeZoneInfo zone;
        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(string.IsNullOrWhiteSpace(o.TimeZone) ? "UTC" : o.TimeZone.Trim());
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw Bad($"{at}:TimeZone '{o.TimeZone}' is not a known time zone (use an IANA name such as Europe/Berlin).");
        }
        return new DerivedTraitDefinition(name, source, fromComputed, zone);
    }
}
