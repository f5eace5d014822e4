using Cdp.Protocol;
using Cdp.Server.Engine;
using MessagePack;
using static Cdp.Server.Binary.MessagePackBodyReader;

namespace Cdp.Server.Binary;

/// <summary>A parsed GetProfile request.</summary>
public sealed class GetProfileRequest
{
    /// <summary>Identifier type.</summary>
    public string Type { get; set; } = "";
    /// <summary>Identifier value.</summary>
    public string Value { get; set; } = "";
    /// <summary>Trait projection, or null for all traits.</summary>
    public List<string>? Fields { get; set; }
    /// <summary>Declared purpose (recorded; enforced once purposes are configured).</summary>
    public string? Purpose { get; set; }
}

/// <summary>
/// Turns request bodies into engine commands. Parsing only: every rule beyond the wire shape is the
/// engine's. Keys are compared as raw UTF-8 so known keys cost no allocation.
/// </summary>
public static class BinaryRequestParser
{
    /// <summary>Parses a Hello body and returns the requested version.</summary>
    public static int ParseHello(ReadOnlyMemory<byte> body)
    {
        var reader = Start(body, out int count);
        int version = -1;
        for (int i = 0; i < count; i++)
        {
            var key = ReadUtf8(ref reader, "body", ProtocolLimits.MaxNameBytes);
            if (key.SequenceEqual("version"u8))
                version = (int)Math.Clamp(ReadInt64(ref reader, "version"), int.MinValue, int.MaxValue);
            else if (key.SequenceEqual("client"u8))
                ReadUtf8(ref reader, "client", ProtocolLimits.MaxNameBytes);
            else
                throw Unknown(key);
        }
        End(ref reader);
        if (version < 0)
            throw EngineException.BadRequest(ErrorCode.Missing, "version is required.", "version");
        return version;
    }

    /// <summary>Parses an Identify or Track body into <paramref name="command"/>.</summary>
    public static void ParseWrite(ReadOnlyMemory<byte> body, WriteKind kind, WriteCommand command)
    {
        command.Reset();
        command.Kind = kind;
        var reader = Start(body, out int count);
        bool sawIdentifiers = false;
        for (int i = 0; i < count; i++)
        {
            var key = ReadUtf8(ref reader, "body", ProtocolLimits.MaxNameBytes);
            if (key.SequenceEqual("identifiers"u8))
            {
                Once(ref sawIdentifiers, "identifiers");
                int n = ReadMapHeader(ref reader, "identifiers");
                for (int j = 0; j < n; j++)
                {
                    var type = ReadKey(ref reader, "identifiers");
                    var field = "identifiers." + type;
                    command.AddIdentifier(type, ReadString(ref reader, field, ProtocolLimits.MaxIdentifierBytes), field);
                }
            }
            else if (key.SequenceEqual("traits"u8) && kind == WriteKind.Identify)
                ReadSection(ref reader, "traits", command, property: false);
            else if (key.SequenceEqual("properties"u8) && kind == WriteKind.Track)
                ReadSection(ref reader, "properties", command, property: true);
            else if (key.SequenceEqual("event"u8) && kind == WriteKind.Track)
            {
                if (command.Event is not null)
                    throw Duplicate("event");
                command.Event = ReadString(ref reader, "event", ProtocolLimits.MaxNameBytes);
            }
            else if (key.SequenceEqual("timestamp"u8))
            {
                if (command.Timestamp is not null)
                    throw Duplicate("timestamp");
                command.Timestamp = ReadTimestamp(ref reader, "timestamp");
            }
            else if (key.SequenceEqual("messageId"u8))
            {
                if (command.MessageId is not null)
                    throw Duplicate("messageId");
                command.MessageId = ReadString(ref reader, "messageId", ProtocolLimits.MaxIdentifierBytes);
            }
            else
                throw Unknown(key);
        }
        End(ref reader);
        if (!sawIdentifiers)
            throw EngineException.BadRequest(ErrorCode.Missing, "identifiers is required.", "identifiers");
    }

    static void ReadSection(ref MessagePackReader reader, string name, WriteCommand command, bool property)
    {
        if ((property ? command.Properties.Count : command.Traits.Count) > 0)
            throw Duplicate(name);
        int n = ReadMapHeader(ref reader, name);
        for (int j = 0; j < n; j++)
        {
            var key = ReadKey(ref reader, name);
            ReadValue(ref reader, key, name + "." + key, 3, command, property);
        }
    }

    /// <summary>Parses a GetProfile body into <paramref name="request"/>.</summary>
    public static void ParseGetProfile(ReadOnlyMemory<byte> body, GetProfileRequest request)
    {
        request.Type = "";
        request.Value = "";
        request.Fields = null;
        request.Purpose = null;
        var reader = Start(body, out int count);
        bool sawType = false, sawValue = false;
        for (int i = 0; i < count; i++)
        {
            var key = ReadUtf8(ref reader, "body", ProtocolLimits.MaxNameBytes);
            if (key.SequenceEqual("type"u8))
            {
                Once(ref sawType, "type");
                request.Type = ReadString(ref reader, "type", ProtocolLimits.MaxNameBytes);
            }
            else if (key.SequenceEqual("value"u8))
            {
                Once(ref sawValue, "value");
                request.Value = ReadString(ref reader, "value", ProtocolLimits.MaxIdentifierBytes);
            }
            else if (key.SequenceEqual("fields"u8))
            {
                if (request.Fields is not null)
                    throw Duplicate("fields");
                int n = ReadArrayHeader(ref reader, "fields", "an array of strings");
                request.Fields = new List<string>(n);
                for (int j = 0; j < n; j++)
                    request.Fields.Add(ReadString(ref reader, $"fields[{j}]", ProtocolLimits.MaxNameBytes));
            }
            else if (key.SequenceEqual("purpose"u8))
            {
                if (request.Purpose is not null)
                    throw Duplicate("purpose");
                request.Purpose = ReadString(ref reader, "purpose", ProtocolLimits.MaxNameBytes);
            }
            else
                throw Unknown(key);
        }
        End(ref reader);
        if (!sawType)
            throw EngineException.BadRequest(ErrorCode.Missing, "type is required.", "type");
        if (!sawValue)
            throw EngineException.BadRequest(ErrorCode.Missing, "value is required.", "value");
    }

    static MessagePackReader Start(ReadOnlyMemory<byte> body, out int count)
    {
        if (body.IsEmpty)
            throw EngineException.BadRequest(ErrorCode.Malformed, "the body is empty; this operation needs a map.", "body");
        var reader = new MessagePackReader(body);
        count = ReadMapHeader(ref reader, "body");
        return reader;
    }

    static void End(ref MessagePackReader reader)
    {
        if (!reader.End)
            throw EngineException.BadRequest(ErrorCode.Malformed, "the body has bytes after its map.", "body");
    }

    static void Once(ref bool seen, string field)
    {
        if (seen)
            throw Duplicate(field);
        seen = true;
    }

    static EngineException Duplicate(string field)
        => EngineException.BadRequest(ErrorCode.DuplicateKey, $"{field} is given twice.", field);

    static EngineException Unknown(ReadOnlySpan<byte> key)
    {
        var name = System.Text.Encoding.UTF8.GetString(key);
        return EngineException.BadRequest(ErrorCode.UnknownField, $"'{name}' is not a field of this request.", name);
    }
}
