namespace Cdp.Server.Profiles;

/// <summary>The type of a stored trait or property value; the byte values are part of the record format.</summary>
public enum TraitKind : byte
{
    /// <summary>An explicit null.</summary>
    Null = 0,
    /// <summary>Boolean false.</summary>
    False = 1,
    /// <summary>Boolean true.</summary>
    True = 2,
    /// <summary>A signed 64-bit integer.</summary>
    Int = 3,
    /// <summary>A 64-bit float.</summary>
    Double = 4,
    /// <summary>A UTF-8 string.</summary>
    String = 5,
    /// <summary>An instant, in Unix milliseconds.</summary>
    Timestamp = 6,
    /// <summary>A list of UTF-8 strings.</summary>
    StringList = 7,
}

/// <summary>
/// How a record stores a trait value, the low four bits of its tag: a <see cref="TraitKind"/>, or one of
/// the encodings below that read back as one (<see cref="TraitEntry.Kind"/> is always a <see cref="TraitKind"/>).
/// </summary>
public static class StoredKind
{
    /// <summary>A <see cref="TraitKind.String"/> held in the <see cref="SharedValueTable"/>: payload is varint id.</summary>
    public const byte SharedString = 8;
    /// <summary>
    /// A <see cref="TraitKind.StringList"/> with shared items: varint count, then per item a varint
    /// <c>h</c>: even, <c>h / 2</c> UTF-8 bytes follow; odd, the item is shared value <c>h / 2</c>.
    /// </summary>
    public const byte SharedStringList = 9;

    /// <summary>The kind a stored kind reads back as.</summary>
    public static TraitKind Logical(byte stored) => stored switch
    {
        SharedString => TraitKind.String,
        SharedStringList => TraitKind.StringList,
        _ => (TraitKind)stored,
    };
}

/// <summary>A typed trait or property value as the transports hand it to the engine.</summary>
public readonly struct TraitValue : IEquatable<TraitValue>
{
    TraitValue(TraitKind kind, long integer = 0, double number = 0, string? text = null, string[]? list = null)
    {
        Kind = kind;
        Integer = integer;
        Number = number;
        Text = text;
        List = list;
    }

    /// <summary>The value's type.</summary>
    public TraitKind Kind { get; }
    /// <summary>The value of <see cref="TraitKind.Int"/> and <see cref="TraitKind.Timestamp"/> (Unix ms).</summary>
    public long Integer { get; }
    /// <summary>The value of <see cref="TraitKind.Double"/>.</summary>
    public double Number { get; }
    /// <summary>The value of <see cref="TraitKind.String"/>.</summary>
    public string? Text { get; }
    /// <summary>The value of <see cref="TraitKind.StringList"/>.</summary>
    public string[]? List { get; }

    /// <summary>The null value.</summary>
    public static TraitValue Null => default;
    /// <summary>A boolean value.</summary>
    public static TraitValue Bool(bool value) => new(value ? TraitKind.True : TraitKind.False);
    /// <summary>An integer value.</summary>
    public static TraitValue Int(long value) => new(TraitKind.Int, integer: value);
    /// <summary>A float value.</summary>
    public static TraitValue Double(double value) => new(TraitKind.Double, number: value);
    /// <summary>A string value.</summary>
    public static TraitValue String(string value) => new(TraitKind.String, text: value);
    /// <summary>An instant, Unix milliseconds.</summary>
    public static TraitValue Timestamp(long unixMs) => new(TraitKind.Timestamp, integer: unixMs);
    /// <summary>A list of strings.</summary>
    public static TraitValue StringList(string[] values) => new(TraitKind.StringList, list: values);

    /// <inheritdoc />
    public bool Equals(TraitValue other)
        => Kind == other.Kind && Integer == other.Integer && Number.Equals(other.Number) && Text == other.Text
           && (List == other.List || (List is not null && other.List is not null && List.AsSpan().SequenceEqual(other.List)));

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is TraitValue v && Equals(v);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Kind, Integer, Number, Text);

    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        TraitKind.Null => "null",
        TraitKind.False => "false",
        TraitKind.True => "true",
        TraitKind.Int => Integer.ToString(System.Globalization.CultureInfo.InvariantCulture),
        TraitKind.Double => Number.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        TraitKind.Timestamp => DateTimeOffset.FromUnixTimeMilliseconds(Integer).ToString("O"),
        TraitKind.StringList => "[" + string.Join(",", List!) + "]",
        _ => Text ?? "",
    };
}
