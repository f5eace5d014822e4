using System.Globalization;
using System.Text.Json;
using Cdp.Protocol;
using Cdp.Server.Engine;
using Cdp.Server.Profiles;

namespace Cdp.Server.Http;

/// <summary>
/// Maps Segment Spec messages (JSON) onto engine write commands: <c>userId</c> → <c>user_id</c>,
/// <c>anonymousId</c> → <c>anonymous_id</c>, <c>traits.email</c>/<c>context.traits.email</c> → <c>email</c>,
/// <c>traits.phone</c> → <c>phone</c>, <c>context.device.id</c> → <c>device</c>, and the
/// <c>identifiers</c> extension object. Fields of the spec that Cdp does not use (<c>context.ip</c>,
/// <c>integrations</c>, <c>sentAt</c>, ...) are accepted and ignored so existing SDKs work unchanged.
/// </summary>
public static class SegmentSpecReader
{
    /// <summary>JSON limits: the same depth as the binary protocol, duplicate keys refused.</summary>
    public static readonly JsonDocumentOptions DocumentOptions = new()
    {
        MaxDepth = ProtocolLimits.MaxDepth + 2,
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowDuplicateProperties = false,
    };

    /// <summary>Reads one message of type <paramref name="type"/> (page and screen are tracked as events).</summary>
    public static void Read(JsonElement message, string type, WriteCommand command, string prefix = "")
    {
        try
        {
            ReadMessage(message, type, command, prefix);
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json refuses to turn an escaped lone surrogate ("\ud800") into a string.
            throw EngineException.BadRequest(ErrorCode.Malformed, $"{Path(prefix, "body")} holds a string that is not valid Unicode: {e.Message}", Path(prefix, "body"));
        }
    }

    static void ReadMessage(JsonElement message, string type, WriteCommand command, string prefix)
    {
        command.Reset();
        if (message.ValueKind != JsonValueKind.Object)
            throw EngineException.BadRequest(ErrorCode.WrongType, $"{Path(prefix, "body")} must be a JSON object.", Path(prefix, "body"));
        switch (type)
        {
            case "identify":
                command.Kind = WriteKind.Identify;
                break;
            case "track":
                command.Kind = WriteKind.Track;
                command.Event = RequiredString(message, "event", prefix, ProtocolLimits.MaxNameBytes);
                break;
            case "page":
            case "screen":
                // Page and screen views are events named after their type, with the page name as a property.
                command.Kind = WriteKind.Track;
                command.Event = type == "page" ? "Page Viewed" : "Screen Viewed";
                if (message.TryGetProperty("name", out var pageName) && pageName.ValueKind == JsonValueKind.String)
                    command.AddProperty("name", TraitValue.String(pageName.GetString()!), Path(prefix, "name"));
                break;
            case "alias":
                // alias links the id a visitor had before (previousId: in practice the anonymous id of
                // the browser or app) to the user id they have now.
                command.Kind = WriteKind.Identify;
                RequiredString(message, "previousId", prefix, ProtocolLimits.MaxIdentifierBytes);
                RequiredString(message, "userId", prefix, ProtocolLimits.MaxIdentifierBytes);
                AddIdentifier(message, "previousId", "anonymous_id", prefix, command);
                break;
            default:
                throw EngineException.BadRequest(ErrorCode.UnknownField, $"message type '{type}' is not supported here (identify, track, page, screen, alias).", Path(prefix, "type"));
        }

        AddIdentifier(message, "userId", "user_id", prefix, command);
        AddIdentifier(message, "anonymousId", "anonymous_id", prefix, command);
        // traits.email first: when context.traits.email differs, the message's own traits win.
        if (command.Kind == WriteKind.Identify && message.TryGetProperty("traits", out var traits))
        {
            if (traits.ValueKind != JsonValueKind.Object)
                throw EngineException.BadRequest(ErrorCode.WrongType, $"{Path(prefix, "traits")} must be an object.", Path(prefix, "traits"));
            AddIdentifier(traits, "email", "email", prefix + "traits.", command);
            AddIdentifier(traits, "phone", "phone", prefix + "traits.", command);
            foreach (var p in traits.EnumerateObject())
                AddValue(p.Value, p.Name, Path(prefix, "traits." + p.Name), 3, command, property: false);
        }
        if (message.TryGetProperty("context", out var context) && context.ValueKind == JsonValueKind.Object)
        {
            if (context.TryGetProperty("traits", out var contextTraits) && contextTraits.ValueKind == JsonValueKind.Object)
                AddIdentifier(contextTraits, "email", "email", prefix + "context.traits.", command);
            if (context.TryGetProperty("device", out var device) && device.ValueKind == JsonValueKind.Object)
                AddIdentifier(device, "id", "device", prefix + "context.device.", command);
            // The Segment Spec's consent object: categories map to purposes by name.
            if (context.TryGetProperty("consent", out var consent) && consent.ValueKind == JsonValueKind.Object
                && consent.TryGetProperty("categoryPreferences", out var categories) && categories.ValueKind != JsonValueKind.Null)
            {
                var field = prefix + "context.consent.categoryPreferences";
                if (categories.ValueKind != JsonValueKind.Object)
                    throw EngineException.BadRequest(ErrorCode.WrongType, $"{field} must be an object of category → true/false.", field);
                foreach (var c in categories.EnumerateObject())
                {
                    if (c.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                        throw EngineException.BadRequest(ErrorCode.WrongType, $"{field}.{c.Name} must be true or false.", field + "." + c.Name);
                    if (command.Consents.Count >= ProtocolLimits.MaxCollectionCount)
                        throw EngineException.BadRequest(ErrorCode.TooMany, $"{field} holds more than {ProtocolLimits.MaxCollectionCount} categories.", field);
                    command.Consents.Add((c.Name, c.Value.ValueKind == JsonValueKind.True, field + "." + c.Name));
                }
            }
        }
        if (message.TryGetProperty("identifiers", out var identifiers))
        {
            if (identifiers.ValueKind != JsonValueKind.Object)
                throw EngineException.BadRequest(ErrorCode.WrongType, $"{Path(prefix, "identifiers")} must be an object of type → value.", Path(prefix, "identifiers"));
            foreach (var p in identifiers.EnumerateObject())
            {
                var field = Path(prefix, "identifiers." + p.Name);
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw EngineException.BadRequest(ErrorCode.WrongType, $"{field} must be a string.", field);
                command.AddIdentifier(p.Name, p.Value.GetString()!, field);
            }
        }
        if (command.Kind == WriteKind.Track && type == "track" && message.TryGetProperty("properties", out var properties))
        {
            if (properties.ValueKind != JsonValueKind.Object)
                throw EngineException.BadRequest(ErrorCode.WrongType, $"{Path(prefix, "properties")} must be an object.", Path(prefix, "properties"));
            foreach (var p in properties.EnumerateObject())
                AddValue(p.Value, p.Name, Path(prefix, "properties." + p.Name), 3, command, property: true);
        }
        if (message.TryGetProperty("timestamp", out var timestamp) && timestamp.ValueKind != JsonValueKind.Null)
            command.Timestamp = ParseTimestamp(timestamp, Path(prefix, "timestamp"));
        if (message.TryGetProperty("source", out var source) && source.ValueKind != JsonValueKind.Null)
        {
            if (source.ValueKind != JsonValueKind.String)
                throw EngineException.BadRequest(ErrorCode.WrongType, $"{Path(prefix, "source")} must be a string.", Path(prefix, "source"));
            command.Source = source.GetString();
        }
        if (message.TryGetProperty("messageId", out var messageId) && messageId.ValueKind != JsonValueKind.Null)
        {
            if (messageId.ValueKind != JsonValueKind.String)
                throw EngineException.BadRequest(ErrorCode.WrongType, $"{Path(prefix, "messageId")} must be a string.", Path(prefix, "messageId"));
            command.MessageId = messageId.GetString();
        }
    }

    static void AddIdentifier(JsonElement source, string property, string type, string prefix, WriteCommand command)
    {
        if (!source.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null)
            return;
        var field = prefix + property;
        if (value.ValueKind != JsonValueKind.String)
            throw EngineException.BadRequest(ErrorCode.WrongType, $"{field} must be a string.", field);
        var text = value.GetString()!;
        if (command.Identifiers.Exists(i => i.Type == type))
            return; // traits.email and context.traits.email may both be present; the first one wins.
        command.AddIdentifier(type, text, field);
    }

    static void AddValue(JsonElement value, string name, string field, int depth, WriteCommand command, bool property)
    {
        if (depth > ProtocolLimits.MaxDepth)
            throw EngineException.BadRequest(ErrorCode.TooDeep, $"{field} is nested deeper than {ProtocolLimits.MaxDepth} levels.", field);
        TraitValue v;
        switch (value.ValueKind)
        {
            case JsonValueKind.Null: v = TraitValue.Null; break;
            case JsonValueKind.True: v = TraitValue.Bool(true); break;
            case JsonValueKind.False: v = TraitValue.Bool(false); break;
            case JsonValueKind.Number:
                if (value.TryGetInt64(out var l))
                    v = TraitValue.Int(l);
                else if (value.TryGetDouble(out var d) && double.IsFinite(d))
                    v = TraitValue.Double(d);
                else
                    throw EngineException.BadRequest(ErrorCode.OutOfRange, $"{field} is not a storable number.", field);
                break;
            case JsonValueKind.String:
                var s = value.GetString()!;
                if (System.Text.Encoding.UTF8.GetByteCount(s) > ProtocolLimits.MaxStringBytes)
                    throw EngineException.BadRequest(ErrorCode.TooLong, $"{field} is longer than {ProtocolLimits.MaxStringBytes} UTF-8 bytes.", field);
                v = TraitValue.String(s);
                break;
            case JsonValueKind.Array:
                int n = value.GetArrayLength();
                if (n > ProtocolLimits.MaxCollectionCount)
                    throw EngineException.BadRequest(ErrorCode.TooMany, $"{field} has {n} entries; at most {ProtocolLimits.MaxCollectionCount} are allowed.", field);
                var list = new string[n];
                int i = 0;
                foreach (var item in value.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String)
                        throw EngineException.BadRequest(ErrorCode.WrongType, $"{field} must be a list of strings; entry {i} is {item.ValueKind.ToString().ToLowerInvariant()}.", $"{field}[{i}]");
                    var entry = item.GetString()!;
                    if (System.Text.Encoding.UTF8.GetByteCount(entry) > ProtocolLimits.MaxStringBytes)
                        throw EngineException.BadRequest(ErrorCode.TooLong, $"{field}[{i}] is longer than {ProtocolLimits.MaxStringBytes} UTF-8 bytes.", $"{field}[{i}]");
                    list[i++] = entry;
                }
                v = TraitValue.StringList(list);
                break;
            case JsonValueKind.Object:
                foreach (var p in value.EnumerateObject())
                    AddValue(p.Value, name + "." + p.Name, field + "." + p.Name, depth + 1, command, property);
                return;
            default:
                throw EngineException.BadRequest(ErrorCode.WrongType, $"{field} has an unsupported type.", field);
        }
        if (property)
            command.AddProperty(name, v, field);
        else
            command.AddTrait(name, v, field);
    }

    static string RequiredString(JsonElement message, string property, string prefix, int maxBytes)
    {
        var field = Path(prefix, property);
        if (!message.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null)
            throw EngineException.BadRequest(ErrorCode.Missing, $"{field} is required.", field);
        if (value.ValueKind != JsonValueKind.String)
            throw EngineException.BadRequest(ErrorCode.WrongType, $"{field} must be a string.", field);
        var s = value.GetString()!;
        if (System.Text.Encoding.UTF8.GetByteCount(s) > maxBytes)
            throw EngineException.BadRequest(ErrorCode.TooLong, $"{field} is limited to {maxBytes} UTF-8 bytes.", field);
        return s;
    }

    /// <summary>Parses an ISO 8601 timestamp with a time zone (e.g. <c>2026-11-22T10:00:00Z</c>) to Unix ms.</summary>
    public static long ParseTimestamp(JsonElement value, string field)
    {
        if (value.ValueKind != JsonValueKind.String)
            throw EngineException.BadRequest(ErrorCode.InvalidTimestamp, $"{field} must be an ISO 8601 string such as 2026-11-22T10:00:00Z.", field);
        var s = value.GetString()!;
        if (!DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            || s.Length < 10 || !char.IsAsciiDigit(s[0]))
            throw EngineException.BadRequest(ErrorCode.InvalidTimestamp, $"{field} '{s}' is not an ISO 8601 timestamp such as 2026-11-22T10:00:00Z.", field);
        return t.ToUnixTimeMilliseconds();
    }

    static string Path(string prefix, string field) => prefix + field;
}
