using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;
using Cdp.Protocol;
using Cdp.Server.Engine;
using Cdp.Server.Profiles;
using MessagePack;

namespace Cdp.Server.Binary;

/// <summary>
/// Reads request bodies with MessagePack-CSharp's reader and enforces the protocol's limits on each
/// value before anything is allocated for it (a string's length is checked on the raw span, a map's
/// count on its header). Every failure is an <see cref="EngineException"/> naming the field.
/// </summary>
public static class MessagePackBodyReader
{
    /// <summary>Reads a map header, checking type and entry count.</summary>
    public static int ReadMapHeader(ref MessagePackReader reader, string field)
    {
        if (reader.NextMessagePackType != MessagePackType.Map)
            throw WrongType(field, "a map", reader.NextMessagePackType);
        CheckCount(ref reader, field);
        return reader.ReadMapHeader();
    }

    /// <summary>Reads an array header, checking type and entry count.</summary>
    public static int ReadArrayHeader(ref MessagePackReader reader, string field, string expected)
    {
        if (reader.NextMessagePackType != MessagePackType.Array)
            throw WrongType(field, expected, reader.NextMessagePackType);
        CheckCount(ref reader, field);
        return reader.ReadArrayHeader();
    }

    /// <summary>
    /// Checks a map or array header's entry count against the limit before the reader sees it: the
    /// reader's own check (count against remaining bytes) would report a short body instead.
    /// </summary>
    static void CheckCount(ref MessagePackReader reader, string field)
    {
        var peek = reader.CreatePeekReader();
        byte code = peek.NextCode;
        long count;
        if (code is (>= 0x80 and <= 0x8f) or (>= 0x90 and <= 0x9f))
            count = code & 0x0f;
        else
        {
            int size = code is MessagePackCode.Map16 or MessagePackCode.Array16 ? 2 : 4;
            if (peek.Sequence.Length - peek.Consumed < 1 + size)
                throw EngineException.BadRequest(ErrorCode.Malformed, $"{field} ends inside its header.", field);
            Span<byte> header = stackalloc byte[5];
            System.Buffers.BuffersExtensions.CopyTo(peek.ReadRaw(1 + size), header);
            count = size == 2 ? BinaryPrimitives.ReadUInt16BigEndian(header[1..]) : BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        }
        if (count > ProtocolLimits.MaxCollectionCount)
            throw EngineException.BadRequest(ErrorCode.TooMany, $"{field} has {count} entries; at most {ProtocolLimits.MaxCollectionCount} are allowed.", field);
    }

    /// <summary>Reads a UTF-8 string of at most <paramref name="maxBytes"/> bytes as a raw span (no allocation).</summary>
    public static ReadOnlySpan<byte> ReadUtf8(ref MessagePackReader reader, string field, int maxBytes)
    {
        if (reader.NextMessagePackType != MessagePackType.String)
            throw WrongType(field, "a string", reader.NextMessagePackType);
        if (!reader.TryReadStringSpan(out var span))
            throw EngineException.BadRequest(ErrorCode.Malformed, $"{field} is not a contiguous string.", field);
        if (span.Length > maxBytes)
            throw EngineException.BadRequest(ErrorCode.TooLong, $"{field} is {span.Length} bytes long; at most {maxBytes} UTF-8 bytes are allowed.", field);
        if (!Utf8.IsValid(span))
            throw EngineException.BadRequest(ErrorCode.InvalidUtf8, $"{field} is not valid UTF-8.", field);
        return span;
    }

    /// <summary>Reads a string of at most <paramref name="maxBytes"/> UTF-8 bytes.</summary>
    public static string ReadString(ref MessagePackReader reader, string field, int maxBytes)
        => Encoding.UTF8.GetString(ReadUtf8(ref reader, field, maxBytes));

    /// <summary>
    /// Reads a map key (a name). With <paramref name="remember"/> it comes from <see cref="RequestNameCache"/>
    /// (the same string as the last time on this thread); without, it is read fresh and kept nowhere.
    /// </summary>
    public static string ReadKey(ref MessagePackReader reader, string parentField, bool remember = true)
    {
        if (reader.NextMessagePackType != MessagePackType.String)
            throw EngineException.BadRequest(ErrorCode.WrongType, $"keys of {parentField} must be strings, not {reader.NextMessagePackType}.", parentField);
        return remember ? ReadName(ref reader, parentField) : ReadString(ref reader, parentField, ProtocolLimits.MaxNameBytes);
    }

    /// <summary>Reads a name (a key, an event name) of at most <see cref="ProtocolLimits.MaxNameBytes"/>, from <see cref="RequestNameCache"/> when it was seen before.</summary>
    public static string ReadName(ref MessagePackReader reader, string field)
        => RequestNameCache.Name(ReadUtf8(ref reader, field, ProtocolLimits.MaxNameBytes));

    /// <summary>Reads a signed 64-bit integer, rejecting uint64 values above its range.</summary>
    public static long ReadInt64(ref MessagePackReader reader, string field)
    {
        if (reader.NextMessagePackType != MessagePackType.Integer)
            throw WrongType(field, "an integer", reader.NextMessagePackType);
        if (reader.NextCode == MessagePackCode.UInt64)
        {
            ulong u = reader.ReadUInt64();
            if (u > long.MaxValue)
                throw EngineException.BadRequest(ErrorCode.OutOfRange, $"{field} is {u}, above the largest storable integer {long.MaxValue}.", field);
            return (long)u;
        }
        return reader.ReadInt64();
    }

    /// <summary>Reads a MessagePack timestamp (extension -1) as Unix ms, validating its encoding.</summary>
    public static long ReadTimestamp(ref MessagePackReader reader, string field)
    {
        if (reader.NextMessagePackType != MessagePackType.Extension)
            throw WrongType(field, "a timestamp (extension type -1)", reader.NextMessagePackType);
        var header = reader.ReadExtensionFormatHeader();
        if (header.TypeCode != MessagePackTimestamp.TypeCode)
            throw EngineException.BadRequest(ErrorCode.WrongType, $"{field} is an extension of type {header.TypeCode}; only timestamps (type -1) are accepted.", field);
        if (header.Length > 12)
            throw EngineException.BadRequest(ErrorCode.InvalidTimestamp, $"{field} has a timestamp of {header.Length} bytes; timestamps are 4, 8 or 12 bytes.", field);
        Span<byte> data = stackalloc byte[(int)header.Length];
        System.Buffers.BuffersExtensions.CopyTo(reader.ReadRaw(header.Length), data);
        if (MessagePackTimestamp.TryDecode(data, out long seconds, out uint nanoseconds) is { } problem)
            throw EngineException.BadRequest(ErrorCode.InvalidTimestamp, $"{field} is not a valid timestamp: {problem}.", field);
        return seconds * 1000 + nanoseconds / 1_000_000;
    }

    /// <summary>
    /// Reads a trait or property value at <paramref name="path"/>, flattening nested maps into
    /// dotted names and adding each leaf to <paramref name="command"/> as a trait or, when <paramref name="property"/>, an event property.
    /// </summary>
    public static void ReadValue(ref MessagePackReader reader, string path, string field, int depth, WriteCommand command, bool property)
    {
        if (depth > ProtocolLimits.MaxDepth)
            throw EngineException.BadRequest(ErrorCode.TooDeep, $"{field} is nested deeper than {ProtocolLimits.MaxDepth} levels.", field);
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil:
                reader.ReadNil();
                Add(command, property, path, TraitValue.Null, field);
                break;
            case MessagePackType.Boolean:
                Add(command, property, path, TraitValue.Bool(reader.ReadBoolean()), field);
                break;
            case MessagePackType.Integer:
                Add(command, property, path, TraitValue.Int(ReadInt64(ref reader, field)), field);
                break;
            case MessagePackType.Float:
                double d = reader.ReadDouble();
                if (!double.IsFinite(d))
                    throw EngineException.BadRequest(ErrorCode.OutOfRange, $"{field} must be a finite number.", field);
                Add(command, property, path, TraitValue.Double(d), field);
                break;
            case MessagePackType.String:
                Add(command, property, path, TraitValue.String(ReadString(ref reader, field, ProtocolLimits.MaxStringBytes)), field);
                break;
            case MessagePackType.Extension:
                Add(command, property, path, TraitValue.Timestamp(ReadTimestamp(ref reader, field)), field);
                break;
            case MessagePackType.Array:
                int n = ReadArrayHeader(ref reader, field, "a list of strings");
                var list = new string[n];
                for (int i = 0; i < n; i++)
                {
                    if (reader.NextMessagePackType != MessagePackType.String)
                        throw EngineException.BadRequest(ErrorCode.WrongType, $"{field} must be a list of strings; entry {i} is {reader.NextMessagePackType}.", $"{field}[{i}]");
                    list[i] = ReadString(ref reader, $"{field}[{i}]", ProtocolLimits.MaxStringBytes);
                }
                Add(command, property, path, TraitValue.StringList(list), field);
                break;
            case MessagePackType.Map:
                int count = ReadMapHeader(ref reader, field);
                for (int i = 0; i < count; i++)
                {
                    // Keys below the first level are not kept in the name table: a sender may key a
                    // map by anything, personal data included, and the table outlives the request.
                    var key = ReadKey(ref reader, field, remember: false);
                    ReadValue(ref reader, path + "." + key, field + "." + key, depth + 1, command, property);
                }
                break;
            default:
                throw WrongType(field, "a value (nil, bool, number, string, timestamp, list of strings or map)", reader.NextMessagePackType);
        }
    }

    static void Add(WriteCommand command, bool property, string name, TraitValue value, string field)
    {
        if (property)
            command.AddProperty(name, value, field);
        else
            command.AddTrait(name, value, field);
    }

    static EngineException WrongType(string field, string expected, MessagePackType actual)
        => actual == MessagePackType.Unknown
            ? EngineException.BadRequest(ErrorCode.Malformed, $"{field} starts with a byte that is not valid MessagePack.", field)
            : EngineException.BadRequest(ErrorCode.WrongType, $"{field} must be {expected}, not {Describe(actual)}.", field);

    static string Describe(MessagePackType t) => t switch
    {
        MessagePackType.Nil => "nil",
        MessagePackType.Binary => "bin",
        MessagePackType.Extension => "an extension",
        _ => "a " + t.ToString().ToLowerInvariant(),
    };
}
