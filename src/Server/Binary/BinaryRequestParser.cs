using Cdp.Protocol;
using Cdp.Server.Engine;
using MessagePack;
using static Cdp.Server.Binary.MessagePackBodyReader;

namespace Cdp.Server.Binary;

/// <summary>
/// A parsed GetProfile request as views over the request body, so a lookup allocates nothing.
/// Valid while the body is.
/// </summary>
public readonly ref struct GetProfileQuery
{
    /// <summary>Identifier type (UTF-8).</summary>
    public ReadOnlySpan<byte> Type { get; init; }
    /// <summary>Identifier value (UTF-8).</summary>
    public ReadOnlySpan<byte> Value { get; init; }
    /// <summary>Declared purpose (UTF-8; recorded, enforced once purposes are configured).</summary>
    public ReadOnlySpan<byte> Purpose { get; init; }
    /// <summary>The <c>fields</c> array as raw MessagePack (already validated), or empty when absent.</summary>
    public ReadOnlyMemory<byte> Fields { get; init; }
    /// <summary>Whether <c>fields</c> was given.</summary>
    public bool HasFields { get; init; }

    /// <summary>Narrows <paramref name="view"/> to the requested fields, if any were given.</summary>
    public void ApplyProjection(Cdp.Server.Engine.ProfileView view)
    {
        if (!HasFields)
            return;
        var reader = new MessagePackReader(Fields);
        int n = reader.ReadArrayHeader();
        view.ProjectTo([]);
        for (int i = 0; i < n; i++)
        {
            reader.TryReadStringSpan(out var name);
            view.ProjectTo(name);
        }
    }
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

    /// <summary>Parses an Auth body, <c>{"key": str}</c>, returning the key (a slice of the body).</summary>
    public static ReadOnlySpan<byte> ParseAuth(ReadOnlyMemory<byte> body)
    {
        var reader = Start(body, out int count);
        ReadOnlySpan<byte> key = default;
        bool sawKey = false;
        for (int i = 0; i < count; i++)
        {
            var name = ReadUtf8(ref reader, "body", ProtocolLimits.MaxNameBytes);
            if (!name.SequenceEqual("key"u8))
                throw Unknown(name);
            sawKey = true;
            key = Slice(body, ref reader, "key", 1024);
        }
        End(ref reader);
        if (!sawKey)
            throw EngineException.BadRequest(ErrorCode.Missing, "key is required.", "key");
        return key;
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
                    var field = RequestNameCache.Path("identifiers", type);
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
                command.Event = ReadName(ref reader, "event");
            }
            else if (key.SequenceEqual("consent"u8))
            {
                // Consent per purpose, as PUT .../consent states it over HTTP: an Identify with only
                // identifiers and consent is the binary consent operation.
                if (command.Consents.Count > 0)
                    throw Duplicate("consent");
                int n = ReadMapHeader(ref reader, "consent");
                for (int j = 0; j < n; j++)
                {
                    var purpose = ReadKey(ref reader, "consent");
                    var field = "consent." + purpose;
                    if (reader.NextMessagePackType != MessagePackType.Boolean)
                        throw EngineException.BadRequest(ErrorCode.WrongType, $"{field} must be true (consented) or false (refused or withdrawn).", field);
                    command.Consents.Add((purpose, reader.ReadBoolean(), field));
                }
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
            else if (key.SequenceEqual("source"u8))
            {
                if (command.Source is not null)
                    throw Duplicate("source");
                command.Source = ReadString(ref reader, "source", ProtocolLimits.MaxNameBytes);
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
            ReadValue(ref reader, key, RequestNameCache.Path(name, key), 3, command, property);
        }
    }

    /// <summary>Parses a GetProfile body; the result points into <paramref name="body"/>.</summary>
    public static GetProfileQuery ParseGetProfile(ReadOnlyMemory<byte> body)
    {
        var reader = Start(body, out int count);
        ReadOnlySpan<byte> type = default, value = default, purpose = default;
        ReadOnlyMemory<byte> fields = default;
        bool sawType = false, sawValue = false, sawFields = false, sawPurpose = false;
        for (int i = 0; i < count; i++)
        {
            var key = ReadUtf8(ref reader, "body", ProtocolLimits.MaxNameBytes);
            if (key.SequenceEqual("type"u8))
            {
                Once(ref sawType, "type");
                type = Slice(body, ref reader, "type", ProtocolLimits.MaxNameBytes);
            }
            else if (key.SequenceEqual("value"u8))
            {
                Once(ref sawValue, "value");
                value = Slice(body, ref reader, "value", ProtocolLimits.MaxIdentifierBytes);
            }
            else if (key.SequenceEqual("fields"u8))
            {
                Once(ref sawFields, "fields");
                long start = reader.Consumed;
                int n = ReadArrayHeader(ref reader, "fields", "an array of strings");
                for (int j = 0; j < n; j++)
                    ReadUtf8(ref reader, "fields", ProtocolLimits.MaxNameBytes);
                fields = body.Slice((int)start, (int)(reader.Consumed - start));
            }
            else if (key.SequenceEqual("purpose"u8))
            {
                Once(ref sawPurpose, "purpose");
                purpose = Slice(body, ref reader, "purpose", ProtocolLimits.MaxNameBytes);
            }
            else
                throw Unknown(key);
        }
        End(ref reader);
        if (!sawType)
            throw EngineException.BadRequest(ErrorCode.Missing, "type is required.", "type");
        if (!sawValue)
            throw EngineException.BadRequest(ErrorCode.Missing, "value is required.", "value");
        return new GetProfileQuery { Type = type, Value = value, Purpose = purpose, Fields = fields, HasFields = sawFields };
    }

    /// <summary>Parses an Erase body, <c>{"type": str, "value": str}</c>.</summary>
    public static (string Type, string Value) ParseErase(ReadOnlyMemory<byte> body)
    {
        var reader = Start(body, out int count);
        string? type = null, value = null;
        for (int i = 0; i < count; i++)
        {
            var key = ReadUtf8(ref reader, "body", ProtocolLimits.MaxNameBytes);
            if (key.SequenceEqual("type"u8))
            {
                if (type is not null)
                    throw EngineException.BadRequest(ErrorCode.Malformed, "type appears twice.", "type");
                type = System.Text.Encoding.UTF8.GetString(ReadUtf8(ref reader, "type", ProtocolLimits.MaxNameBytes));
            }
            else if (key.SequenceEqual("value"u8))
            {
                if (value is not null)
                    throw EngineException.BadRequest(ErrorCode.Malformed, "value appears twice.", "value");
                value = System.Text.Encoding.UTF8.GetString(ReadUtf8(ref reader, "value", ProtocolLimits.MaxIdentifierBytes));
            }
            else
                throw Unknown(key);
        }
        End(ref reader);
        if (type is null)
            throw EngineException.BadRequest(ErrorCode.Missing, "type is required.", "type");
        if (value is null)
            throw EngineException.BadRequest(ErrorCode.Missing, "value is required.", "value");
        return (type, value);
    }

    /// <summary>Most segments one Subscribe or Unsubscribe names.</summary>
    public const int MaxSubscribeSegments = 256;

    /// <summary>Parses a Subscribe or Unsubscribe body, <c>{"segments": [str, ...]}</c> (1-256 names).</summary>
    public static List<string> ParseSegments(ReadOnlyMemory<byte> body)
    {
        var reader = Start(body, out int count);
        List<string>? names = null;
        for (int i = 0; i < count; i++)
        {
            var key = ReadUtf8(ref reader, "body", ProtocolLimits.MaxNameBytes);
            if (!key.SequenceEqual("segments"u8))
                throw Unknown(key);
            if (names is not null)
                throw Duplicate("segments");
            if (reader.NextMessagePackType != MessagePackType.Array)
                throw EngineException.BadRequest(ErrorCode.WrongType, "segments must be an array of segment names.", "segments");
            int n = reader.ReadArrayHeader();
            if (n == 0)
                throw EngineException.BadRequest(ErrorCode.Missing, "segments must name at least one segment.", "segments");
            if (n > MaxSubscribeSegments)
                throw EngineException.BadRequest(ErrorCode.TooMany, $"at most {MaxSubscribeSegments} segments per request, not {n}.", "segments");
            names = new List<string>(n);
            for (int j = 0; j < n; j++)
            {
                if (reader.NextMessagePackType != MessagePackType.String)
                    throw EngineException.BadRequest(ErrorCode.WrongType, $"segments[{j}] must be a string.", $"segments[{j}]");
                names.Add(System.Text.Encoding.UTF8.GetString(ReadUtf8(ref reader, $"segments[{j}]", ProtocolLimits.MaxNameBytes)));
            }
        }
        End(ref reader);
        return names ?? throw EngineException.BadRequest(ErrorCode.Missing, "segments is required.", "segments");
    }

    /// <summary>Reads and checks a string, returning it as a slice of the body (which outlives the reader).</summary>
    static ReadOnlySpan<byte> Slice(ReadOnlyMemory<byte> body, scoped ref MessagePackReader reader, string field, int maxBytes)
    {
        int length = ReadUtf8(ref reader, field, maxBytes).Length;
        int end = (int)reader.Consumed;
        return body.Span.Slice(end - length, length);
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
