using System.Text;
using Cdp.Server.Profiles;

namespace Cdp.Server.Rules;

/// <summary>A compiled expression that yields a value: a field, a literal or <c>days_since</c>.</summary>
public abstract class ValueTerm
{
    /// <summary>Reads the value for the profile in <paramref name="ctx"/>.</summary>
    public abstract RuleValue Read(RuleContext ctx);

    /// <summary>When the value next changes with time alone; <see cref="long.MaxValue"/> for never.</summary>
    public virtual long NextChange(RuleContext ctx) => long.MaxValue;

    /// <summary>The value as text, for explanations.</summary>
    public string Describe(RuleContext ctx)
    {
        var v = Read(ctx);
        return v.Kind switch
        {
            TraitKind.Null => "(missing)",
            TraitKind.True => "true",
            TraitKind.False => "false",
            TraitKind.Int => v.Integer.ToString(System.Globalization.CultureInfo.InvariantCulture),
            TraitKind.Double => v.Number.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            TraitKind.Timestamp => DateTimeOffset.FromUnixTimeMilliseconds(v.Integer).ToString("O"),
            TraitKind.String => "\"" + Encoding.UTF8.GetString(v.Bytes) + "\"",
            TraitKind.StringList => DescribeList(v.Bytes),
            _ => "?",
        };
    }

    static string DescribeList(ReadOnlySpan<byte> payload)
    {
        var items = new List<string>();
        var r = new StringListReader(payload);
        while (r.Next(out var item))
            items.Add("\"" + Encoding.UTF8.GetString(item) + "\"");
        return "[" + string.Join(", ", items) + "]";
    }
}

/// <summary>A trait of the profile.</summary>
public sealed class TraitTerm(int slot) : ValueTerm
{
    /// <inheritdoc />
    public override RuleValue Read(RuleContext ctx) => ctx.Trait(slot);
}

/// <summary>A computed or derived value; windowed ones and derived ones change with time.</summary>
public sealed class ComputedTerm(int index, bool timeDependent) : ValueTerm
{
    /// <inheritdoc />
    public override RuleValue Read(RuleContext ctx) => ctx.Computed(index);

    /// <inheritdoc />
    public override long NextChange(RuleContext ctx) => timeDependent ? ctx.RecordNextChange : long.MaxValue;
}

/// <summary>A constant.</summary>
public sealed class LiteralTerm : ValueTerm
{
    readonly TraitKind kind;
    readonly long integer;
    readonly double number;
    readonly byte[] bytes;

    LiteralTerm(TraitKind kind, long integer, double number, byte[] bytes)
    {
        this.kind = kind;
        this.integer = integer;
        this.number = number;
        this.bytes = bytes;
    }

    /// <summary>A number literal: kept as an integer when it is one, so integer traits compare exactly.</summary>
    public static LiteralTerm Of(double value)
        => value == Math.Floor(value) && Math.Abs(value) < 9e15 ? new(TraitKind.Int, (long)value, 0, []) : new(TraitKind.Double, 0, value, []);

    /// <summary>A string literal.</summary>
    public static LiteralTerm Of(string value) => new(TraitKind.String, 0, 0, Encoding.UTF8.GetBytes(value));

    /// <summary>A boolean literal.</summary>
    public static LiteralTerm Of(bool value) => new(value ? TraitKind.True : TraitKind.False, 0, 0, []);

    /// <summary>An instant, Unix ms.</summary>
    public static LiteralTerm OfTimestamp(long unixMs) => new(TraitKind.Timestamp, unixMs, 0, []);

    /// <summary>The literal's value.</summary>
    public RuleValue Value => new() { Kind = kind, Integer = integer, Number = number, Bytes = bytes };

    /// <inheritdoc />
    public override RuleValue Read(RuleContext ctx) => Value;
}

/// <summary>
/// Whole days (86,400,000 ms) elapsed since an instant: <c>floor((now - t) / 1 day)</c>. The value
/// steps exactly when a day has passed since <c>t</c>, which is when rules over it change.
/// </summary>
public sealed class DaysSinceTerm(ValueTerm source) : ValueTerm
{
    /// <summary>Milliseconds in a day.</summary>
    public const long DayMs = 86_400_000;

    /// <summary>The instant counted from, if the field holds one.</summary>
    public bool TryGetSource(RuleContext ctx, out long instant)
    {
        var v = source.Read(ctx);
        instant = v.Integer;
        return v.Kind == TraitKind.Timestamp;
    }

    /// <inheritdoc />
    public override RuleValue Read(RuleContext ctx)
        => TryGetSource(ctx, out long t) ? new RuleValue { Kind = TraitKind.Int, Integer = FloorDays(ctx.Now - t) } : default;

    /// <inheritdoc />
    public override long NextChange(RuleContext ctx)
    {
        long next = source.NextChange(ctx);
        if (TryGetSource(ctx, out long t))
            next = Math.Min(next, SafeAdd(t, (FloorDays(ctx.Now - t) + 1) * DayMs));
        return next;
    }

    /// <summary>
    /// The first instant after now at which <c>days_since</c> reaches <paramref name="days"/> or
    /// <paramref name="days"/> + 1: the only moments a comparison with that constant can change.
    /// </summary>
    public long NextCrossing(RuleContext ctx, double days)
    {
        long next = source.NextChange(ctx);
        if (!TryGetSource(ctx, out long t))
            return next;
        long k = (long)Math.Ceiling(Math.Clamp(days, -1e12, 1e12));
        foreach (long step in (ReadOnlySpan<long>)[k - 1, k, k + 1])
        {
            long at = SafeAdd(t, step * DayMs);
            if (at > ctx.Now)
                next = Math.Min(next, at);
        }
        return next;
    }

    static long FloorDays(long ms) => ms >= 0 ? ms / DayMs : -((-ms + DayMs - 1) / DayMs);

    static long SafeAdd(long a, long b)
    {
        long r = a + b;
        return ((a ^ r) & (b ^ r)) < 0 ? (b > 0 ? long.MaxValue : long.MinValue) : r;
    }
}
