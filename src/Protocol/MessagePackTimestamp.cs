using System.Buffers.Binary;

namespace Cdp.Protocol;

/// <summary>
/// The data of MessagePack's timestamp extension (type -1) in its three forms, and the range the
/// protocol accepts. Shared by server and client so both read instants by the same rules.
/// </summary>
public static class MessagePackTimestamp
{
    /// <summary>Extension type code of timestamps.</summary>
    public const sbyte TypeCode = -1;
    /// <summary>0001-01-01T00:00:00Z in Unix seconds.</summary>
    public const long MinUnixSeconds = -62_135_596_800;
    /// <summary>9999-12-31T23:59:59Z in Unix seconds.</summary>
    public const long MaxUnixSeconds = 253_402_300_799;

    /// <summary>
    /// Decodes the 4, 8 or 12 data bytes of a timestamp. Returns null when they are a valid instant
    /// in the years 1 to 9999, otherwise what is wrong with them (for the caller's error message).
    /// </summary>
    public static string? TryDecode(ReadOnlySpan<byte> data, out long seconds, out uint nanoseconds)
    {
        switch (data.Length)
        {
            case 4:
                seconds = BinaryPrimitives.ReadUInt32BigEndian(data);
                nanoseconds = 0;
                break;
            case 8:
                ulong packed = BinaryPrimitives.ReadUInt64BigEndian(data);
                nanoseconds = (uint)(packed >> 34);
                seconds = (long)(packed & ((1UL << 34) - 1));
                break;
            case 12:
                nanoseconds = BinaryPrimitives.ReadUInt32BigEndian(data);
                seconds = BinaryPrimitives.ReadInt64BigEndian(data[4..]);
                break;
            default:
                seconds = 0;
                nanoseconds = 0;
                return $"a timestamp has 4, 8 or 12 data bytes, not {data.Length}";
        }
        if (nanoseconds >= 1_000_000_000)
            return $"its nanoseconds ({nanoseconds}) are not below 1,000,000,000";
        if (seconds is < MinUnixSeconds or > MaxUnixSeconds)
            return "it is outside the years 1 to 9999";
        return null;
    }
}
