using Cdp.Server.Profiles;

namespace Cdp.Server.Computed;

/// <summary>
/// The value of a computed or derived trait at one moment; numbers inline, other values as a view
/// over the state's bytes, so evaluating allocates nothing. <c>default</c> is null (no data).
/// </summary>
public readonly ref struct ComputedValue
{
    ComputedValue(TraitKind kind, long integer, double number, ReadOnlySpan<byte> payload)
    {
        Kind = kind;
        Integer = integer;
        Number = number;
        Payload = payload;
    }

    /// <summary>The value's type; <see cref="TraitKind.Null"/> when there is no data.</summary>
    public TraitKind Kind { get; }
    /// <summary>Int and Timestamp values.</summary>
    public long Integer { get; }
    /// <summary>Double values.</summary>
    public double Number { get; }
    /// <summary>String and list values: their payload as in a trait entry.</summary>
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>An integer.</summary>
    public static ComputedValue OfNumber(long value) => new(TraitKind.Int, value, 0, default);
    /// <summary>A number: whole numbers that fit exactly become integers.</summary>
    public static ComputedValue OfNumber(double value)
        => double.IsInteger(value) && Math.Abs(value) < 1L << 53 ? new(TraitKind.Int, (long)value, 0, default) : new(TraitKind.Double, 0, value, default);
    /// <summary>A float.</summary>
    public static ComputedValue OfDouble(double value) => new(TraitKind.Double, 0, value, default);
    /// <summary>An instant (Unix ms).</summary>
    public static ComputedValue OfTimestamp(long unixMs) => new(TraitKind.Timestamp, unixMs, 0, default);

    /// <summary>A value stored as kind byte + payload.</summary>
    public static ComputedValue OfEncoded(ReadOnlySpan<byte> encoded)
    {
        var kind = (TraitKind)encoded[0];
        var payload = encoded[1..];
        return kind switch
        {
            TraitKind.Int or TraitKind.Timestamp => new(kind, Varint.ReadZigZag(payload, out _), 0, payload),
            TraitKind.Double => new(kind, 0, System.Buffers.Binary.BinaryPrimitives.ReadDoubleLittleEndian(payload), payload),
            _ => new(kind, 0, 0, payload),
        };
    }

    /// <summary>Writes the payload as a trait entry holds it.</summary>
    public bool TryWritePayload(ref SpanWriter w) => Kind switch
    {
        TraitKind.Int or TraitKind.Timestamp => w.TryWriteZigZag(Integer),
        TraitKind.Double => w.TryWriteDouble(Number),
        TraitKind.String or TraitKind.StringList => w.TryWrite(Payload),
        _ => true,
    };

    /// <summary>As a <see cref="TraitValue"/> (allocates strings; for tests and tools).</summary>
    public TraitValue ToTraitValue()
    {
        switch (Kind)
        {
            case TraitKind.Int: return TraitValue.Int(Integer);
            case TraitKind.Double: return TraitValue.Double(Number);
            case TraitKind.Timestamp: return TraitValue.Timestamp(Integer);
            case TraitKind.True or TraitKind.False: return TraitValue.Bool(Kind == TraitKind.True);
            case TraitKind.String:
                return TraitValue.String(System.Text.Encoding.UTF8.GetString(new TraitEntry(0, Kind, 0, Payload).Utf8));
            case TraitKind.StringList:
                var list = new StringListReader(Payload);
                var items = new List<string>();
                while (list.Next(out var item))
                    items.Add(System.Text.Encoding.UTF8.GetString(item));
                return TraitValue.StringList(items.ToArray());
            default: return TraitValue.Null;
        }
    }
}
