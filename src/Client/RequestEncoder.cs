using Cdp.Protocol;
using MessagePack;

namespace Cdp.Client;

/// <summary>
/// Encodes request bodies exactly as <see cref="CdpClient"/> sends them. The <c>Encode*</c> methods return a body a
/// load harness can build once and replay through <see cref="CdpClient.SendAsync"/>; the <c>Write*</c> methods write
/// into any <see cref="MessagePackWriter"/>. Optional fields are left out of the map, not written as nil.
/// </summary>
public static class RequestEncoder
{
    /// <summary>Encodes a Hello body <c>{"version","client"}</c>.</summary>
    public static byte[] EncodeHello(int version = FrameHeader.ProtocolVersion, string? client = null)
        => Encode((version, client), static (ref MessagePackWriter w, (int Version, string? Client) s) => WriteHello(ref w, s.Version, s.Client));

    /// <summary>Encodes an Identify body.</summary>
    /// <exception cref="ArgumentException">A value cannot be encoded or breaks a limit.</exception>
    public static byte[] EncodeIdentify(IdentifyRequest request) => Encode(request, WriteIdentify);

    /// <summary>Encodes a Track body.</summary>
    /// <exception cref="ArgumentException">A value cannot be encoded or breaks a limit.</exception>
    public static byte[] EncodeTrack(TrackRequest request) => Encode(request, WriteTrack);

    /// <summary>Encodes a GetProfile body.</summary>
    /// <param name="type">Identifier type, or <c>id</c> for the master profile id.</param>
    /// <param name="value">Identifier value.</param>
    /// <param name="fields">Only these traits are returned; null returns all.</param>
    /// <param name="purpose">Optional processing purpose for consent checks.</param>
    public static byte[] EncodeGetProfile(string type, string value, IReadOnlyList<string>? fields = null, string? purpose = null)
        => Encode(new GetProfileQuery(type, value, fields, purpose), WriteGetProfile);

    /// <summary>Writes a Hello body <c>{"version","client"}</c>; <c>client</c> is left out when null.</summary>
    public static void WriteHello(ref MessagePackWriter writer, int version = FrameHeader.ProtocolVersion, string? client = null)
    {
        writer.WriteMapHeader(client is null ? 1 : 2);
        writer.WriteString("version"u8);
        writer.Write(version);
        if (client is not null)
        {
            writer.WriteString("client"u8);
            ValueEncoder.WriteString(ref writer, client, "client");
        }
    }

    /// <summary>Writes an Erase body: <c>{"type": str, "value": str}</c>.</summary>
    public static void WriteErase(ref MessagePackWriter writer, (string Type, string Value) identifier)
    {
        writer.WriteMapHeader(2);
        writer.WriteString("type"u8);
        ValueEncoder.WriteString(ref writer, identifier.Type, "type");
        writer.WriteString("value"u8);
        ValueEncoder.WriteString(ref writer, identifier.Value, "value");
    }

    /// <summary>Writes an Auth body: <c>{"key": str}</c>.</summary>
    public static void WriteAuth(ref MessagePackWriter writer, string key)
    {
        writer.WriteMapHeader(1);
        writer.WriteString("key"u8);
        ValueEncoder.WriteString(ref writer, key, "key");
    }

    /// <summary>Writes an Identify body: identifiers, traits, timestamp, messageId, source, in that order.</summary>
    /// <exception cref="ArgumentException">A value cannot be encoded or breaks a limit.</exception>
    public static void WriteIdentify(ref MessagePackWriter writer, IdentifyRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Identifiers is null)
            throw new ArgumentException("Identifiers are required.", nameof(request));

        writer.WriteMapHeader(1 + Count(request.Traits) + Count(request.Consent) + Count(request.Timestamp) + Count(request.MessageId) + Count(request.Source));
        writer.WriteString("identifiers"u8);
        ValueEncoder.WriteStringMap(ref writer, request.Identifiers, "identifiers");
        if (request.Traits is not null)
        {
            writer.WriteString("traits"u8);
            ValueEncoder.WriteMap(ref writer, request.Traits, "traits", level: 2);
        }
        if (request.Consent is not null)
        {
            writer.WriteString("consent"u8);
            writer.WriteMapHeader(request.Consent.Count);
            foreach (var (purpose, granted) in request.Consent)
            {
                ValueEncoder.WriteString(ref writer, purpose, "consent");
                writer.Write(granted);
            }
        }
        WriteTimestampAndMessageId(ref writer, request.Timestamp, request.MessageId);
        WriteSource(ref writer, request.Source);
    }

    /// <summary>Writes a Track body: identifiers, event, properties, timestamp, messageId, source, in that order.</summary>
    /// <exception cref="ArgumentException">A value cannot be encoded or breaks a limit.</exception>
    public static void WriteTrack(ref MessagePackWriter writer, TrackRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Identifiers is null)
            throw new ArgumentException("Identifiers are required.", nameof(request));
        if (request.Event is null)
            throw new ArgumentException("Event is required.", nameof(request));

        writer.WriteMapHeader(2 + Count(request.Properties) + Count(request.Timestamp) + Count(request.MessageId) + Count(request.Source));
        writer.WriteString("identifiers"u8);
        ValueEncoder.WriteStringMap(ref writer, request.Identifiers, "identifiers");
        writer.WriteString("event"u8);
        ValueEncoder.WriteString(ref writer, request.Event, "event");
        if (request.Properties is not null)
        {
            writer.WriteString("properties"u8);
            ValueEncoder.WriteMap(ref writer, request.Properties, "properties", level: 2);
        }
        WriteTimestampAndMessageId(ref writer, request.Timestamp, request.MessageId);
        WriteSource(ref writer, request.Source);
    }

    /// <summary>Writes a GetProfile body: type, value, fields, purpose, in that order.</summary>
    /// <exception cref="ArgumentException">A value is null or too long.</exception>
    public static void WriteGetProfile(ref MessagePackWriter writer, string type, string value, IReadOnlyList<string>? fields = null, string? purpose = null)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(value);

        writer.WriteMapHeader(2 + Count(fields) + Count(purpose));
        writer.WriteString("type"u8);
        ValueEncoder.WriteString(ref writer, type, "type");
        writer.WriteString("value"u8);
        ValueEncoder.WriteString(ref writer, value, "value");
        if (fields is not null)
        {
            writer.WriteString("fields"u8);
            ValueEncoder.WriteStringArray(ref writer, fields, "fields");
        }
        if (purpose is not null)
        {
            writer.WriteString("purpose"u8);
            ValueEncoder.WriteString(ref writer, purpose, "purpose");
        }
    }

    internal static void WriteGetProfile(ref MessagePackWriter writer, GetProfileQuery query)
        => WriteGetProfile(ref writer, query.Type, query.Value, query.Fields, query.Purpose);

    internal static byte[] Encode<TState>(TState state, BodyWriter<TState> writeBody)
    {
        using var buffer = new PooledBufferWriter();
        var writer = new MessagePackWriter(buffer);
        writeBody(ref writer, state);
        writer.Flush();
        return buffer.ToArray();
    }

    private static void WriteTimestampAndMessageId(ref MessagePackWriter writer, DateTimeOffset? timestamp, string? messageId)
    {
        if (timestamp is { } instant)
        {
            writer.WriteString("timestamp"u8);
            ValueEncoder.WriteTimestamp(ref writer, instant);
        }
        if (messageId is not null)
        {
            writer.WriteString("messageId"u8);
            ValueEncoder.WriteString(ref writer, messageId, "messageId");
        }
    }

    private static void WriteSource(ref MessagePackWriter writer, string? source)
    {
        if (source is null)
            return;
        writer.WriteString("source"u8);
        ValueEncoder.WriteString(ref writer, source, "source");
    }

    private static int Count(object? optional) => optional is null ? 0 : 1;

    private static int Count(DateTimeOffset? optional) => optional.HasValue ? 1 : 0;
}
