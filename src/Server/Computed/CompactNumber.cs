using System.Buffers.Binary;
using Cdp.Server.Profiles;

namespace Cdp.Server.Computed;

/// <summary>
/// A double stored in as few bytes as it needs: whole numbers below 2^52 as a zigzag varint shifted
/// left by one (so the low bit is 0), anything else as the tag 1 and the 8 bytes of the double.
/// Sums and extremes of prices and quantities are almost always whole or rarely fractional, so
/// most states stay a byte or three per number.
/// </summary>
public static class CompactNumber
{
    const double Limit = 1L << 52;

    /// <summary>Writes <paramref name="value"/>.</summary>
    public static bool TryWrite(ref SpanWriter w, double value)
    {
        if (double.IsInteger(value) && Math.Abs(value) < Limit && !(value == 0 && double.IsNegative(value)))
            return w.TryWriteVarint(Varint.ZigZag((long)value) << 1);
        return w.TryWriteVarint(1) && w.TryWriteDouble(value);
    }

    /// <summary>Reads a value; <paramref name="length"/> gets its encoded size.</summary>
    public static double Read(ReadOnlySpan<byte> s, out int length)
    {
        ulong tagged = Varint.Read(s, out length);
        if ((tagged & 1) == 0)
        {
            ulong zigzag = tagged >> 1;
            return (long)(zigzag >> 1) ^ -(long)(zigzag & 1);
        }
        if (tagged != 1)
            throw new ArgumentOutOfRangeException(nameof(s), "bad number tag");
        double d = BinaryPrimitives.ReadDoubleLittleEndian(s[length..]);
        length += 8;
        return d;
    }
}
