using System.Text.Json;
using Cdp.Protocol;
using Cdp.Server.Engine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Cdp.Server.Http;

/// <summary>
/// <c>PUT /v1/profiles/{type}/{value}/consent</c>: consent per purpose, <c>{"marketing": true,
/// "analytics": false}</c> with optional <c>source</c> and <c>timestamp</c>. A write like any other
/// (journalled, acknowledged once durable, creating the profile if the identifier is new); the engine
/// checks the purposes.
/// </summary>
public static class ConsentEndpoints
{
    /// <summary>Maps the routes.</summary>
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPut("/v1/profiles/{type}/{value}/consent", PutAsync);
        app.MapGet("/v1/profiles/{type}/{value}/export", AccessExportAsync);
        app.MapDelete("/v1/profiles/{type}/{value}", EraseAsync);
    }

    /// <summary>
    /// Erasure: the person, every profile merged into them, their identifiers, memberships and
    /// history links leave the server; answered once the erasure is durable. 404 when nothing is
    /// reachable (so erasing twice is harmless).
    /// </summary>
    static async Task<IResult> EraseAsync(HttpContext http, string type, string value, ProfileEngine engine)
    {
        EraseResult? result;
        var session = await engine.RentAsync(http.RequestAborted);
        try
        {
            result = session.Erase(type, value);
        }
        catch (EngineException e)
        {
            return HttpEndpoints.Problem(e);
        }
        finally
        {
            engine.Return(session);
        }
        if (result is not { } erased)
            return Results.Problem(statusCode: 404, title: "Not Found", detail: $"no profile is reachable from {type} '{value}'.",
                extensions: new Dictionary<string, object?> { ["code"] = ErrorCode.NotFound });
        if (await HttpEndpoints.WaitForCommitAsync(engine, erased.JournalAddress, http) is { } failed)
            return failed;
        // The journal entries are unreadable from now on; the store's files lose the records at the next compaction.
        return Results.Json(new { erased = erased.ProfileId.ToString(), fragments = erased.Fragments, compactionPending = engine.ErasuresSinceCompaction > 0 });
    }

    /// <summary>
    /// The right of access: everything held on the person, as one JSON document. Traits carry their
    /// source and time; <c>writes</c> lists every journalled write that made the profile, oldest first
    /// (events with properties, trait and consent statements), so consent history and events are there.
    /// </summary>
    static async Task<IResult> AccessExportAsync(HttpContext http, string type, string value, ProfileEngine engine)
    {
        var session = await engine.RentAsync(http.RequestAborted);
        try
        {
            if (session.AccessReport(type, value) is not { } report)
                return Results.Problem(statusCode: 404, title: "Not Found", detail: $"no profile is reachable from {type} '{value}'.",
                    extensions: new Dictionary<string, object?> { ["code"] = ErrorCode.NotFound });
            var buffer = new System.Buffers.ArrayBufferWriter<byte>(4096);
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WritePropertyName("profile"u8);
                w.Flush();
                var profile = new System.Buffers.ArrayBufferWriter<byte>(1024);
                ProfileJsonWriter.Write(profile, report.View, provenance: true, conflicts: report.Conflicts);
                w.WriteRawValue(profile.WrittenSpan, skipInputValidation: true);
                w.WriteStartArray("segments"u8);
                foreach (var (name, since) in report.Segments)
                {
                    w.WriteStartObject();
                    w.WriteString("name"u8, name);
                    w.WriteString("since"u8, DateTimeOffset.FromUnixTimeMilliseconds(since));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                if (report.HistoryMissing is { } missing)
                    w.WriteString("historyMissing"u8, missing);
                w.WriteStartArray("writes"u8);
                foreach (var e in report.Writes ?? [])
                {
                    w.WriteStartObject();
                    w.WriteString("kind"u8, e.Kind.ToString().ToLowerInvariant());
                    w.WriteString("receivedAt"u8, DateTimeOffset.FromUnixTimeMilliseconds(e.ReceivedAt));
                    w.WriteString("time"u8, DateTimeOffset.FromUnixTimeMilliseconds(e.EventTime));
                    if (e.Source is not null)
                        w.WriteString("source"u8, e.Source);
                    if (e.MessageId is not null)
                        w.WriteString("messageId"u8, e.MessageId);
                    if (e.Event is not null)
                        w.WriteString("event"u8, e.Event);
                    WriteValues(w, "properties"u8, e.Properties, consent: false);
                    WriteValues(w, "traits"u8, e.Traits, consent: false);
                    WriteValues(w, "consent"u8, e.Traits, consent: true);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            return Results.Bytes(buffer.WrittenMemory.ToArray(), "application/json");
        }
        catch (EngineException e)
        {
            return HttpEndpoints.Problem(e);
        }
        finally
        {
            engine.Return(session);
        }
    }

    static void WriteValues(Utf8JsonWriter w, ReadOnlySpan<byte> name, List<(string Name, Cdp.Server.Profiles.TraitValue Value)> values, bool consent)
    {
        const string prefix = Cdp.Server.Schema.SchemaRegistry.ConsentPrefix;
        bool any = false;
        foreach (var (key, v) in values)
        {
            if (key.StartsWith(prefix, StringComparison.Ordinal) != consent)
                continue;
            if (!any)
            {
                w.WriteStartObject(name);
                any = true;
            }
            w.WritePropertyName(consent ? key[prefix.Length..] : key);
            switch (v.Kind)
            {
                case Cdp.Server.Profiles.TraitKind.Null: w.WriteNullValue(); break;
                case Cdp.Server.Profiles.TraitKind.True: w.WriteBooleanValue(true); break;
                case Cdp.Server.Profiles.TraitKind.False: w.WriteBooleanValue(false); break;
                case Cdp.Server.Profiles.TraitKind.Int: w.WriteNumberValue(v.Integer); break;
                case Cdp.Server.Profiles.TraitKind.Double: w.WriteNumberValue(v.Number); break;
                case Cdp.Server.Profiles.TraitKind.Timestamp: w.WriteStringValue(DateTimeOffset.FromUnixTimeMilliseconds(v.Integer)); break;
                case Cdp.Server.Profiles.TraitKind.StringList:
                    w.WriteStartArray();
                    foreach (var item in v.List!)
                        w.WriteStringValue(item);
                    w.WriteEndArray();
                    break;
                default: w.WriteStringValue(v.Text); break;
            }
        }
        if (any)
            w.WriteEndObject();
    }

    static async Task<IResult> PutAsync(HttpContext http, string type, string value, ProfileEngine engine)
    {
        var (document, error) = await HttpEndpoints.ReadJsonAsync(http);
        if (document is null)
            return error!;
        using var _ = document;
        var command = new WriteCommand { Kind = WriteKind.Identify };
        WriteResult result;
        var session = await engine.RentAsync(http.RequestAborted);
        try
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw EngineException.BadRequest(ErrorCode.WrongType, "the body must be an object of purpose → true/false.", "body");
            command.AddIdentifier(type, value, "path.value");
            foreach (var p in root.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "source":
                        if (p.Value.ValueKind != JsonValueKind.String)
                            throw EngineException.BadRequest(ErrorCode.WrongType, "source must be a string.", "source");
                        command.Source = p.Value.GetString();
                        break;
                    case "timestamp":
                        command.Timestamp = SegmentSpecReader.ParseTimestamp(p.Value, "timestamp");
                        break;
                    default:
                        if (p.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                            throw EngineException.BadRequest(ErrorCode.WrongType, $"{p.Name} must be true (consented) or false (refused or withdrawn).", p.Name);
                        if (command.Consents.Count >= ProtocolLimits.MaxCollectionCount)
                            throw EngineException.BadRequest(ErrorCode.TooMany, $"at most {ProtocolLimits.MaxCollectionCount} purposes per request.", p.Name);
                        command.Consents.Add((p.Name, p.Value.ValueKind == JsonValueKind.True, p.Name));
                        break;
                }
            }
            if (command.Consents.Count == 0)
                throw EngineException.BadRequest(ErrorCode.Missing, "name at least one purpose: {\"marketing\": true}.", "body");
            result = session.Write(command);
        }
        catch (EngineException e)
        {
            return HttpEndpoints.Problem(e);
        }
        finally
        {
            engine.Return(session);
        }
        if (await HttpEndpoints.WaitForCommitAsync(engine, result.JournalAddress, http) is { } failed)
            return failed;
        return Results.Json(new
        {
            id = result.MasterId.ToString(),
            created = result.Created,
            consent = command.Consents.ToDictionary(c => c.Purpose, c => c.Granted),
        });
    }
}
