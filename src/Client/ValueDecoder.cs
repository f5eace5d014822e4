using System.Buffers;
using System.Buffers.Binary;
using Cdp.Protocol;
using MessagePack;

namespace Cdp.Client;

/// <summary>
/// Reads the MessagePack values of protocol v1 into .NET values: nil → null, bool, any integer → <see cref="long"/>,
/// float32/64 → <see cref="double"/>, str → <see cref="string"/>, timestamp → <see cref="DateTimeOffset"/> (UTC),
/// array → <see cref="T:string[]"/>, map → <see cref="Dictionary{TKey,TValue}"/> of string to object.
/// </summary>
/// <remarks>
/// Well-formed input of an unexpected type throws <see cref="InvalidDataException"/>; truncated or corrupt MessagePack
/// throws what <see cref="MessagePackReader"/> throws (<see cref="EndOfStreamException"/>, <see cref="MessagePackSerializationException"/>).
/// <see cref="ResponseDecoder"/> turns all of these into <see cref="InvalidDataException"/>.
/// </remarks>
public static class ValueDecoder
{

    /// <summary>
    /// Reads one value. <paramref name="level"/> is the nesting level a map or array would occupy (the body map is
    /// level 1); deeper than <see cref="ProtocolLimits.MaxDepth"/> is refused.
    /// </summary>
    /// <exception cref="InvalidDataException">The value is malformed or of a type protocol v1 does not use.</exception>
    public static object? ReadValue(ref MessagePackReader reader, int level = 1)
    {
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil:
                reader.ReadNil();
                return null;
            case MessagePackType.Boolean:
                return reader.ReadBoolean();
            case MessagePackType.Integer:
                return ReadInt64(ref reader);
            case MessagePackType.Float:
                return reader.ReadDouble();
            case MessagePackType.String:
                return reader.ReadString();
            case MessagePackType.Extension:
                return ReadTimestamp(ref reader);
            case MessagePackType.Array:
                CheckLevel(level);
                return ReadStringArray(ref reader);
            case MessagePackType.Map:
                return ReadMap(ref reader, level);
            default:
                throw new InvalidDataException($"MessagePack type {reader.NextMessagePackType} (code 0x{reader.NextCode:x2}) is not used by protocol v1.");
        }
    }

    /// <summary>Reads a map of string to values as for <see cref="ReadValue"/>; the map itself is at <paramref name="level"/>.</summary>
    /// <exception cref="InvalidDataException">The value is not such a map.</exception>
    public static Dictionary<string, object?> ReadMap(ref MessagePackReader reader, int level)
    {
        CheckLevel(level);
        int count = ReadMapHeader(ref reader);
        var map = new Dictionary<string, object?>(count, StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            string key = ReadString(ref reader);
            map[key] = ReadValue(ref reader, level + 1);
        }
        return map;
    }

    /// <summary>Reads an array whose elements are all str.</summary>
    /// <exception cref="InvalidDataException">The value is not an array of str.</exception>
    public static string[] ReadStringArray(ref MessagePackReader reader)
    {
        if (reader.NextMessagePackType != MessagePackType.Array)
            throw new InvalidDataException($"Expected an array, found {reader.NextMessagePackType}.");
        int count = reader.ReadArrayHeader();
        if (count == 0)
            return [];
        var items = new string[count];
        for (int i = 0; i < count; i++)
            items[i] = ReadString(ref reader);
        return items;
    }

    /// <summary>Reads a str (nil is refused).</summary>
    /// <exception cref="InvalidDataException">The value is not a str.</exception>
    public static string ReadString(ref MessagePackReader reader)
    {
        if (reader.NextMessagePackType != MessagePackType.String)
            throw new InvalidDataException($"Expected a str, found {reader.NextMessagePackType}.");
        return reader.ReadString()!;
    }

    /// <summary>Reads any MessagePack integer that fits a signed 64-bit value.</summary>
    /// <exception cref="InvalidDataException">The value is not an integer, or is a uint64 above 2^63-1.</exception>
    public static long ReadInt64(ref MessagePackReader reader)
    {
        if (reader.NextMessagePackType != MessagePackType.Integer)
            throw new InvalidDataException($"Expected an int, found {reader.NextMessagePackType}.");
        if (reader.NextCode == MessagePackCode.UInt64)
        {
            ulong value = reader.ReadUInt64();
            if (value > long.MaxValue)
                throw new InvalidDataException($"The integer {value} does not fit a signed 64-bit value.");
            return (long)value;
        }
        return reader.ReadInt64();
    }

    /// <summary>Reads a bool.</summary>
    /// <exception cref="InvalidDataException">The value is not a bool.</exception>
    public static bool ReadBoolean(ref MessagePackReader reader)
    {
        if (reader.NextMessagePackType != MessagePackType.Boolean)
            throw new InvalidDataException($"Expected a bool, found {reader.NextMessagePackType}.");
        return reader.ReadBoolean();
    }

    /// <summary>Reads a timestamp extension (type -1, 4, 8 or 12 data bytes) as a UTC <see cref="DateTimeOffset"/>.</summary>
    /// <remarks>Nanoseconds are truncated to the 100 ns resolution of <see cref="DateTimeOffset"/>.</remarks>
    /// <exception cref="InvalidDataException">The value is not a valid timestamp or is outside years 1..9999.</exception>
    public static DateTimeOffset ReadTimestamp(ref MessagePackReader reader)
    {
        if (reader.NextMessagePackType != MessagePackType.Extension)
            throw new InvalidDataException($"Expected a timestamp, found {reader.NextMessagePackType}.");
        ExtensionHeader header = reader.ReadExtensionFormatHeader();
        if (header.TypeCode != ReservedMessagePackExtensionTypeCode.DateTime)
            throw new InvalidDataException($"Extension type {header.TypeCode} is not used by protocol v1 (only -1, timestamp).");

        if (header.Length > 12)
            throw new InvalidDataException($"A timestamp has 4, 8 or 12 data bytes, not {header.Length}.");
        Span<byte> data = stackalloc byte[(int)header.Length];
        reader.ReadRaw(header.Length).CopyTo(data);
        if (MessagePackTimestamp.TryDecode(data, out long seconds, out uint nanoseconds) is { } problem)
            throw new InvalidDataException($"Not a valid timestamp: {problem}.");
        return DateTimeOffset.UnixEpoch.AddTicks(seconds * TimeSpan.TicksPerSecond + nanoseconds / 100);
    }

    /// <summary>Reads a map header, refusing anything that is not a map.</summary>
    /// <exception cref="InvalidDataException">The value is not a map.</exception>
    public static int ReadMapHeader(ref MessagePackReader reader)
    {
        if (reader.NextMessagePackType != MessagePackType.Map)
            throw new InvalidDataException($"Expected a map, found {reader.NextMessagePackType}.");
        return reader.ReadMapHeader();
    }

    private static void CheckLevel(int level)
    {
        if (level > ProtocolLimits.MaxDepth)
            throw new InvalidDataException($"Maps and arrays nest deeper than {ProtocolLimits.MaxDepth} levels.");
    }
}
