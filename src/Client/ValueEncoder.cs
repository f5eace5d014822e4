using System.Buffers.Binary;
using System.Text;
using Cdp.Protocol;
using MessagePack;

namespace Cdp.Client;

/// <summary>
/// Writes .NET values as the MessagePack values of protocol v1 (docs/protocol.md section 2). Used for traits and
/// event properties; exposed so load harnesses and tests can build bodies without reflection.
/// </summary>
public static class ValueEncoder
{
    /// <summary>
    /// Longest string the protocol allows, in UTF-8 bytes. docs/protocol.md says 65,535, so the client refuses
    /// anything longer before it reaches the wire (a str16 header can describe exactly that much).
    /// </summary>
    public const int MaxStringBytes = ProtocolLimits.MaxStringBytes;

    // Seconds since 1970 that still fit the 34-bit seconds field of timestamp 64 (up to 2514-05-30).
    private const long MaxTimestamp64Seconds = (1L << 34) - 1;

    /// <summary>
    /// Writes one trait or property value. <paramref name="level"/> is the nesting level a map or array value
    /// would have in the body (the body map is level 1, a map in a body field is level 2); containers deeper than
    /// <see cref="ProtocolLimits.MaxDepth"/> are refused, which also stops cyclic dictionaries.
    /// </summary>
    /// <param name="writer">Destination.</param>
    /// <param name="value">null, bool, an integer type, float/double, string, DateTimeOffset/DateTime, a sequence of strings, or a string-keyed dictionary.</param>
    /// <param name="path">Dotted name of the value, used in exception messages (for example <c>traits.address.city</c>).</param>
    /// <param name="level">Nesting level the value occupies if it is a container.</param>
    /// <exception cref="ArgumentException">The value (or something inside it) has no protocol representation or breaks a limit.</exception>
    public static void WriteValue(ref MessagePackWriter writer, object? value, string path, int level = 1)
    {
        switch (value)
        {
            case null:
                writer.WriteNil();
                break;
            case string s:
                WriteString(ref writer, s, path);
                break;
            case bool b:
                writer.Write(b);
                break;
            case int i:
                writer.Write((long)i);
                break;
            case long l:
                writer.Write(l);
                break;
            case double d:
                writer.Write(d);
                break;
            case float f:
                writer.Write(f);
                break;
            case DateTimeOffset dto:
                WriteTimestamp(ref writer, dto);
                break;
            case DateTime dt:
                WriteTimestamp(ref writer, ToDateTimeOffset(dt));
                break;
            case short or sbyte or byte or ushort or uint:
                writer.Write(Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
                break;
            case ulong ul:
                if (ul > long.MaxValue)
                    throw new ArgumentException($"'{path}' is {ul}, above the largest protocol integer (2^63-1).", path);
                writer.Write((long)ul);
                break;
            case IDictionary<string, object?> map:
                CheckLevel(path, level);
                writer.WriteMapHeader(map.Count);
                foreach (KeyValuePair<string, object?> entry in map)
                    WriteEntry(ref writer, entry, path, level);
                break;
            case IReadOnlyDictionary<string, object?> readOnlyMap:
                CheckLevel(path, level);
                writer.WriteMapHeader(readOnlyMap.Count);
                foreach (KeyValuePair<string, object?> entry in readOnlyMap)
                    WriteEntry(ref writer, entry, path, level);
                break;
            case IEnumerable<string> strings:
                CheckLevel(path, level);
                WriteStringArray(ref writer, strings, path);
                break;
            default:
                throw new ArgumentException(
                    $"'{path}' has type {value.GetType()}, which the Cdp protocol cannot carry " +
                    "(use null, bool, an integer, float/double, string, DateTimeOffset, a sequence of strings or a string-keyed dictionary).",
                    path);
        }
    }

    /// <summary>Writes a string-keyed map whose entries are values as for <see cref="WriteValue"/>; the map itself is at <paramref name="level"/>.</summary>
    /// <exception cref="ArgumentException">An entry cannot be encoded.</exception>
    public static void WriteMap(ref MessagePackWriter writer, IDictionary<string, object?> map, string path, int level)
    {
        ArgumentNullException.ThrowIfNull(map, path);
        CheckLevel(path, level);
        writer.WriteMapHeader(map.Count);
        foreach (KeyValuePair<string, object?> entry in map)
            WriteEntry(ref writer, entry, path, level);
    }

    /// <summary>Writes a map of string to string (identifiers).</summary>
    /// <exception cref="ArgumentException">A key or value is null or too long.</exception>
    public static void WriteStringMap(ref MessagePackWriter writer, IDictionary<string, string> map, string path)
    {
        ArgumentNullException.ThrowIfNull(map, path);
        writer.WriteMapHeader(map.Count);
        foreach (KeyValuePair<string, string> entry in map)
        {
            string entryPath = path + "." + entry.Key;
            WriteString(ref writer, entry.Key, entryPath);
            if (entry.Value is null)
                throw new ArgumentException($"'{entryPath}' is null; identifier values must be strings.", path);
            WriteString(ref writer, entry.Value, entryPath);
        }
    }

    /// <summary>Writes an array of strings.</summary>
    /// <exception cref="ArgumentException">An element is null or too long.</exception>
    public static void WriteStringArray(ref MessagePackWriter writer, IEnumerable<string> values, string path)
    {
        // The header needs the count up front; only a lazy sequence pays for materialising.
        IReadOnlyList<string> list = values as IReadOnlyList<string> ?? values.ToArray();
        writer.WriteArrayHeader(list.Count);
        for (int i = 0; i < list.Count; i++)
        {
            string? item = list[i];
            if (item is null)
                throw new ArgumentException($"'{path}[{i}]' is null; arrays may only hold strings.", path);
            WriteString(ref writer, item, path);
        }
    }

    /// <summary>Writes a str, refusing strings longer than <see cref="MaxStringBytes"/> UTF-8 bytes.</summary>
    /// <exception cref="ArgumentException">The string is too long.</exception>
    public static void WriteString(ref MessagePackWriter writer, string value, string path)
    {
        ArgumentNullException.ThrowIfNull(value, path);
        // UTF-8 needs at most 3 bytes per UTF-16 char, so short strings skip the counting pass.
        if (value.Length > MaxStringBytes / 3)
        {
            int bytes = Encoding.UTF8.GetByteCount(value);
            if (bytes > MaxStringBytes)
                throw new ArgumentException($"'{path}' is {bytes} UTF-8 bytes; the protocol allows at most {MaxStringBytes}.", path);
        }
        writer.Write(value);
    }

    /// <summary>
    /// Writes the MessagePack timestamp extension (type -1) in the smallest form that holds the instant:
    /// timestamp 32 for whole seconds in 1970..2106, timestamp 64 for other instants in 1970..2514, timestamp 96
    /// otherwise. Sub-second precision is kept to the 100 ns of <see cref="DateTimeOffset"/>.
    /// </summary>
    public static void WriteTimestamp(ref MessagePackWriter writer, DateTimeOffset value)
    {
        long ticks = value.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long remainder);
        if (remainder < 0)
        {
            // Timestamp nanoseconds are never negative: 1969-12-31T23:59:59.5Z is -1 s + 500 ms.
            seconds -= 1;
            remainder += TimeSpan.TicksPerSecond;
        }
        uint nanoseconds = (uint)(remainder * 100);

        if (seconds >= 0 && seconds <= MaxTimestamp64Seconds)
        {
            if (nanoseconds == 0 && seconds <= uint.MaxValue)
            {
                writer.WriteExtensionFormatHeader(new ExtensionHeader(ReservedMessagePackExtensionTypeCode.DateTime, 4));
                Span<byte> span = writer.GetSpan(4);
                BinaryPrimitives.WriteUInt32BigEndian(span, (uint)seconds);
                writer.Advance(4);
            }
            else
            {
                writer.WriteExtensionFormatHeader(new ExtensionHeader(ReservedMessagePackExtensionTypeCode.DateTime, 8));
                Span<byte> span = writer.GetSpan(8);
                BinaryPrimitives.WriteUInt64BigEndian(span, ((ulong)nanoseconds << 34) | (ulong)seconds);
                writer.Advance(8);
            }
        }
        else
        {
            writer.WriteExtensionFormatHeader(new ExtensionHeader(ReservedMessagePackExtensionTypeCode.DateTime, 12));
            Span<byte> span = writer.GetSpan(12);
            BinaryPrimitives.WriteUInt32BigEndian(span, nanoseconds);
            BinaryPrimitives.WriteInt64BigEndian(span[4..], seconds);
            writer.Advance(12);
        }
    }

    private static void WriteEntry(ref MessagePackWriter writer, KeyValuePair<string, object?> entry, string path, int level)
    {
        string entryPath = path.Length == 0 ? entry.Key : path + "." + entry.Key;
        WriteString(ref writer, entry.Key, entryPath);
        WriteValue(ref writer, entry.Value, entryPath, level + 1);
    }

    private static void CheckLevel(string path, int level)
    {
        if (level > ProtocolLimits.MaxDepth)
            throw new ArgumentException(
                $"'{path}' nests maps and arrays {level} levels deep; the protocol allows {ProtocolLimits.MaxDepth} (the body map counts as one).",
                path);
    }

    // A DateTime of unspecified kind is taken as UTC: servers and pipelines pass UTC around, and guessing the
    // machine's local zone would silently shift instants by hours.
    private static DateTimeOffset ToDateTimeOffset(DateTime value) => value.Kind switch
    {
        DateTimeKind.Local => new DateTimeOffset(value),
        _ => new DateTimeOffset(DateTime.SpecifyKind(value, DateTimeKind.Utc)),
    };
}
