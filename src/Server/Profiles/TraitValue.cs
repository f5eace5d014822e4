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
    /// <summary>
    /// A <see cref="TraitKind.Double"/> that is a decimal with at most <see cref="MaxDecimalScale"/> digits
    /// after the point (a price, a score): payload is varint <c>(zigzag(m) &lt;&lt; 3) | s</c>, the value
    /// <c>m / 10^s</c> (that quotient is the stored double exactly). Used only when shorter than 8 bytes.
    /// </summary>
    public const byte DecimalDouble = 10;
    /// <summary>Most digits after the point a <see cref="DecimalDouble"/> holds.</summary>
    public const int MaxDecimalScale = 6;

    static readonly double[] PowersOfTen = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];

    /// <summary>The <see cref="DecimalDouble"/> payload of <paramref name="value"/>; false when it is no such decimal or would not be shorter than 8 bytes.</summary>
    public static bool TryEncodeDecimal(double value, out ulong payload)
    {
        payload = 0;
        if (value == 0 && double.IsNegative(value))
            return false;
        for (int s = 0; s <= MaxDecimalScale; s++)
        {
            double m = Math.Round(value * PowersOfTen[s]);
            if (Math.Abs(m) >= 1L << 50)
                return false;
            if (m / PowersOfTen[s] == value)
            {
                payload = (Varint.ZigZag((long)m) << 3) | (uint)s;
                return payload < 1UL << 49; // at most 7 varint bytes
            }
        }
        return false;
    }

    /// <summary>Reads a <see cref="DecimalDouble"/> payload.</summary>
    public static double DecodeDecimal(ReadOnlySpan<byte> payload)
    {
        ulong v = Varint.Read(payload, out _);
        int s = (int)(v & 7);
        if (s > MaxDecimalScale)
            throw new InvalidDataException($"a decimal trait value has scale {s}; at most {MaxDecimalScale} is written.");
        ulong zigzag = v >> 3;
        long m = (long)(zigzag >> 1) ^ -(long)(zigzag & 1);
        return m / PowersOfTen[s];
    }

    /// <summary>The kind a stored kind reads back as.</summary>
    public static TraitKind Logical(byte stored) => stored switch
    {
        SharedString => TraitKind.String,
        SharedStringList => TraitKind.StringList,
        DecimalDouble => TraitKind.Double,
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
