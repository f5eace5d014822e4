using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;
using Cdp.Protocol;
using Cdp.Server.Engine;
using Cdp.Server.Journal;
using Cdp.Server.Profiles;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Cdp.Server.Http;

/// <summary>
/// The HTTP facade: Segment Spec writes, profile reads and health, on the same engine calls as the
/// binary protocol. Parsing and formatting only; errors are RFC 9457 ProblemDetails whose
/// <c>code</c> and <c>field</c> extensions carry the engine's error code and the offending field.
/// </summary>
public static class HttpEndpoints
{
    /// <summary>Maps every route.</summary>
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/health", (ProfileEngine engine) => engine.Journal.Failure is null
            ? Results.Json(new { status = "ok" })
            : Results.Json(new { status = "journal-failed" }, statusCode: 503));
        foreach (var type in new[] { "track", "identify", "page", "screen", "alias" })
            app.MapPost("/v1/" + type, (HttpContext http, ProfileEngine engine) => WriteOneAsync(http, engine, type));
        app.MapPost("/v1/batch", BatchAsync);
        app.MapGet("/metrics", MetricsEndpoint.Render);
        app.MapGet("/v1/profiles/{type}/{value}", GetProfileAsync);
        app.MapPost("/v1/profiles/{type}/{value}/unmerge", UnmergeAsync);
        app.MapGet("/v1/profiles/{type}/{value}/matches", MatchesAsync);
    }

    static async Task<IResult> WriteOneAsync(HttpContext http, ProfileEngine engine, string type)
    {
        var (document, error) = await ReadJsonAsync(http);
        if (document is null)
            return error!;
        using var _ = document;
        var session = await engine.RentAsync(http.RequestAborted);
        var command = new WriteCommand();
        WriteResult result;
        try
        {
            SegmentSpecReader.Read(document.RootElement, type, command);
            result = session.Write(command);
        }
        catch (EngineException e)
        {
            return Problem(e);
        }
        finally
        {
            engine.Return(session);
        }
        if (await WaitForCommitAsync(engine, result.JournalAddress, http) is { } failed)
            return failed;
        return Results.Json(new WriteResponse(result.MasterId.ToString(), result.Created, result.Duplicate, Rejections(result)));
    }

    static async Task<IResult> BatchAsync(HttpContext http, ProfileEngine engine)
    {
        var (document, error) = await ReadJsonAsync(http);
        if (document is null)
            return error!;
        using var _ = document;
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("batch", out var batch) || batch.ValueKind != JsonValueKind.Array)
            return Problem(EngineException.BadRequest(ErrorCode.Missing, "batch must be an array of messages.", "batch"));
        if (batch.GetArrayLength() > ProtocolLimits.MaxCollectionCount)
            return Problem(EngineException.BadRequest(ErrorCode.TooMany, $"a batch holds at most {ProtocolLimits.MaxCollectionCount} messages.", "batch"));
        var results = new List<BatchItemResult>();
        long commitAddress = -1;
        var session = await engine.RentAsync(http.RequestAborted);
        var command = new WriteCommand();
        try
        {
            int index = 0;
            foreach (var message in batch.EnumerateArray())
            {
                var prefix = $"batch[{index}].";
                try
                {
                    string type = message.ValueKind == JsonValueKind.Object && message.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
                        ? t.GetString()!
                        : throw EngineException.BadRequest(ErrorCode.Missing, $"{prefix}type is required (identify, track, page, screen).", prefix + "type");
                    SegmentSpecReader.Read(message, type, command, prefix);
                    var r = session.Write(command);
                    commitAddress = Math.Max(commitAddress, r.JournalAddress);
                    results.Add(new BatchItemResult(index, 200, r.MasterId.ToString(), r.Created, r.Duplicate, null, Rejections(r)));
                }
                catch (EngineException e)
                {
                    results.Add(new BatchItemResult(index, StatusCodeOf(e.Status), null, null, null, new BatchError(e.Code, e.Message, e.Field), null));
                }
                index++;
            }
        }
        finally
        {
            engine.Return(session);
        }
        if (commitAddress >= 0 && await WaitForCommitAsync(engine, commitAddress, http) is { } failed)
            return failed;
        return Results.Json(new { results });
    }

    static async Task<IResult> GetProfileAsync(HttpContext http, string type, string value, string? fields, string? purpose, string? provenance, ProfileEngine engine)
    {
        var session = await engine.RentAsync(http.RequestAborted);
        try
        {
            var projection = fields?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var view = session.GetProfile(type, value, projection, purpose);
            if (view is null)
                return Results.Problem(statusCode: 404, title: "Not Found", detail: $"no profile is reachable from {type} '{value}'.",
                    extensions: new Dictionary<string, object?> { ["code"] = "not_found" });
            bool withProvenance;
            if (provenance is null)
                withProvenance = false;
            else if (!bool.TryParse(provenance, out withProvenance))
                return Problem(EngineException.BadRequest(ErrorCode.WrongType, $"provenance must be true or false, not '{provenance}'.", "provenance"));
            var buffer = new ArrayBufferWriter<byte>(1024);
            // Read after the profile, into a buffer of their own: the view stays valid.
            var segments = session.SegmentsOf(view.MasterId).Select(m => m.Name).Where(n => view.Purpose?.AllowsSegment(n) ?? true).ToList();
            ProfileJsonWriter.Write(buffer, view, withProvenance, segments: segments);
            return Results.Bytes(buffer.WrittenMemory.ToArray(), "application/json");
        }
        catch (EngineException e)
        {
            return Problem(e);
        }
        finally
        {
            engine.Return(session);
        }
    }

    static async Task<IResult> MatchesAsync(HttpContext http, string type, string value, string? limit, ProfileEngine engine)
    {
        int max = 10;
        if (limit is not null && !int.TryParse(limit, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out max))
            return Problem(EngineException.BadRequest(ErrorCode.WrongType, $"limit must be a whole number, not '{limit}'.", "limit"));
        var session = await engine.RentAsync(http.RequestAborted);
        try
        {
            if (session.FindMatches(type, value, max) is not { } found)
                return Results.Problem(statusCode: 404, title: "Not Found", detail: $"no profile is reachable from {type} '{value}'.",
                    extensions: new Dictionary<string, object?> { ["code"] = "not_found" });
            return Results.Json(new
            {
                id = found.ProfileId.ToString(),
                candidates = found.Candidates.Select(c => new
                {
                    id = c.ProfileId.ToString(),
                    score = Math.Round(c.Score, 3),
                    autoMerge = engine.Matching!.AutoMerge && c.Score >= engine.Matching.AutoMergeScore,
                    evidence = c.Evidence.Select(e => new
                    {
                        attribute = e.Attribute,
                        kind = e.Kind.ToString().ToLowerInvariant(),
                        value = e.Value,
                        candidateValue = e.CandidateValue,
                        similarity = Math.Round(e.Similarity, 3),
                        weight = Math.Round(e.Weight, 3),
                        swapped = e.Swapped,
                    }),
                }),
            });
        }
        catch (EngineException e)
        {
            return Problem(e);
        }
        finally
        {
            engine.Return(session);
        }
    }

    static async Task<IResult> UnmergeAsync(HttpContext http, string type, string value, ProfileEngine engine)
    {
        var (document, error) = await ReadJsonAsync(http);
        if (document is null)
            return error!;
        using var _ = document;
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("identifiers", out var ids) || ids.ValueKind != JsonValueKind.Object)
            return Problem(EngineException.BadRequest(ErrorCode.Missing, "identifiers must be an object of type → value (or → [values]) naming what to split off.", "identifiers"));
        var split = new List<(string Type, string Value, string Field)>();
        foreach (var p in ids.EnumerateObject())
        {
            var field = "identifiers." + p.Name;
            var values = p.Value.ValueKind == JsonValueKind.Array ? p.Value.EnumerateArray().ToList() : [p.Value];
            foreach (var v in values)
            {
                if (v.ValueKind != JsonValueKind.String)
                    return Problem(EngineException.BadRequest(ErrorCode.WrongType, $"{field} must be a string or an array of strings.", field));
                if (split.Count >= ProtocolLimits.MaxCollectionCount)
                    return Problem(EngineException.BadRequest(ErrorCode.TooMany, $"at most {ProtocolLimits.MaxCollectionCount} identifiers can be split off at once.", field));
                split.Add((p.Name, v.GetString()!, field));
            }
        }
        var session = await engine.RentAsync(http.RequestAborted);
        UnmergeResult result;
        try
        {
            result = session.Unmerge(type, value, split);
        }
        catch (EngineException e)
        {
            return Problem(e);
        }
        finally
        {
            engine.Return(session);
        }
        if (await WaitForCommitAsync(engine, result.JournalAddress, http) is { } failed)
            return failed;
        return Results.Json(new { kept = result.KeptId.ToString(), split = result.SplitId.ToString() });
    }

    internal static async Task<(JsonDocument? Document, IResult? Error)> ReadJsonAsync(HttpContext http)
    {
        try
        {
            if (http.Request.ContentLength == 0)
                return (null, Problem(EngineException.BadRequest(ErrorCode.Malformed, "the request body is empty; a JSON object is expected.", "body")));
            // Buffer the body (Kestrel caps its size) so invalid UTF-8 is caught up front with its position;
            // System.Text.Json would only notice it later, when a string is read.
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body, http.RequestAborted);
            var bytes = body.GetBuffer().AsMemory(0, (int)body.Length);
            int invalidAt = FirstInvalidUtf8(bytes.Span);
            if (invalidAt >= 0)
                return (null, Problem(EngineException.BadRequest(ErrorCode.Malformed, $"the body is not valid UTF-8 at byte {invalidAt}.", "body")));
            if (bytes.IsEmpty)
                return (null, Problem(EngineException.BadRequest(ErrorCode.Malformed, "the request body is empty; a JSON object is expected.", "body")));
            return (JsonDocument.Parse(bytes.ToArray(), SegmentSpecReader.DocumentOptions), null);
        }
        catch (JsonException e)
        {
            long line = (e.LineNumber ?? 0) + 1, column = (e.BytePositionInLine ?? 0) + 1;
            return (null, Problem(EngineException.BadRequest(ErrorCode.Malformed,
                $"the body is not valid JSON at line {line}, byte {column}: {e.Message}", "body")));
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e) when (e.StatusCode == 413)
        {
            return (null, Results.Problem(statusCode: 413, title: "too long", detail: e.Message,
                extensions: new Dictionary<string, object?> { ["code"] = ErrorCode.TooLong, ["field"] = "body" }));
        }
    }

    static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        Span<char> chars = stackalloc char[1024];
        int offset = 0;
        while (offset < bytes.Length)
        {
            var status = System.Text.Unicode.Utf8.ToUtf16(bytes[offset..], chars, out int read, out _, replaceInvalidSequences: false, isFinalBlock: true);
            if (status == System.Buffers.OperationStatus.InvalidData)
                return offset + read;
            offset += read;
            if (status == System.Buffers.OperationStatus.Done)
                break;
        }
        return -1;
    }

    /// <summary>Waits until the write is durable; a failed journal means it was never acknowledged: 503.</summary>
    internal static async Task<IResult?> WaitForCommitAsync(ProfileEngine engine, long address, HttpContext http)
    {
        try
        {
            await engine.Journal.WaitForCommitAsync(address, http.RequestAborted);
            return null;
        }
        catch (JournalFailedException e)
        {
            return Problem(new EngineException(Status.Unavailable, ErrorCode.Unavailable, "the write could not be made durable and may or may not be applied: " + e.Message));
        }
    }

    /// <summary>Maps an engine status to its HTTP status code.</summary>
    public static int StatusCodeOf(Status status) => status switch
    {
        Status.BadRequest => 400,
        Status.NotFound => 404,
        Status.Conflict => 409,
        Status.Forbidden => 403,
        Status.Unauthorized => 401,
        Status.RateLimited => 429,
        Status.ProfileTooLarge => 422,
        Status.Unavailable => 503,
        _ => 500,
    };

    /// <summary>A ProblemDetails result for an engine error.</summary>
    public static IResult Problem(EngineException e) => Results.Problem(
        statusCode: StatusCodeOf(e.Status),
        title: e.Code.Replace('_', ' '),
        detail: e.Message,
        type: "https://cdp.dev/errors/" + e.Code,
        extensions: new Dictionary<string, object?> { ["code"] = e.Code, ["field"] = e.Field });

    static BatchError[]? Rejections(in WriteResult r) => r.Rejected?.Select(x => new BatchError(x.Code, x.Detail, x.Field)).ToArray();

    sealed record WriteResponse(string Id, bool Created, bool Duplicate, BatchError[]? Rejected);
    sealed record BatchError(string Code, string Message, string? Field);
    sealed record BatchItemResult(int Index, int Status, string? Id, bool? Created, bool? Duplicate, BatchError? Error, BatchError[]? Rejected);
}

/// <summary>Writes a <see cref="ProfileView"/> as JSON, in the same shape as the binary GetProfile reply.</summary>
public static class ProfileJsonWriter
{
    /// <summary>
    /// The person's consent per purpose, <c>{"marketing": {"value": true, "source": "cmp", "time": ...}}</c>,
    /// when any was recorded. Every purpose sees the consent statements: they say what may be done, not who the person is.
    /// </summary>
    static void WriteConsent(Utf8JsonWriter w, ProfileView view)
    {
        bool any = false;
        var reader = new ProfileRecordReader(view.Record, view.SharedValues);
        while (reader.NextTrait(out var t))
        {
            if (!view.IsConsent(t.NameId))
                continue;
            if (!any)
            {
                w.WriteStartObject("consent"u8);
                any = true;
            }
            w.WriteStartObject(view.NameOf(t.NameId)[Cdp.Server.Schema.SchemaRegistry.ConsentPrefix.Length..]);
            w.WriteBoolean("value"u8, t.Kind == TraitKind.True);
            if (view.SourceNameOf(t.Source) is { } source)
                w.WriteString("source"u8, source);
            w.WriteString("time"u8, DateTimeOffset.FromUnixTimeMilliseconds(t.Time));
            w.WriteEndObject();
        }
        if (any)
            w.WriteEndObject();
    }

    /// <summary>
    /// Writes the profile. With <paramref name="provenance"/> each trait is an object
    /// <c>{"value": ..., "source": ..., "time": ...}</c>: the value, who wrote it and the event time it holds.
    /// </summary>
    /// <param name="output">Where the JSON goes.</param>
    /// <param name="view">The profile.</param>
    /// <param name="provenance">Traits as value/source/time objects.</param>
    /// <param name="conflicts">Identity conflicts to list (exports); none written when null or empty.</param>
    /// <param name="segments">Names of the segments the profile is in; none written when null.</param>
    public static void Write(IBufferWriter<byte> output, ProfileView view, bool provenance = false, IReadOnlyList<Cdp.Server.Identity.IdentityConflict>? conflicts = null,
        IReadOnlyList<string>? segments = null)
    {
        using var w = new Utf8JsonWriter(output);
        var record = view.Record;
        w.WriteStartObject();
        w.WriteString("id"u8, view.MasterId.ToString());
        w.WriteStartObject("identifiers"u8);
        var reader = new ProfileRecordReader(record, view.SharedValues);
        int previous = -1;
        while (reader.NextIdentifier(out var type, out var value))
        {
            if (!view.IncludesIdentifier(type))
                continue;
            if (type != previous)
            {
                if (previous >= 0)
                    w.WriteEndArray();
                w.WriteStartArray(view.IdentifierTypeOf(type));
                previous = type;
            }
            w.WriteStringValue(value);
        }
        if (previous >= 0)
            w.WriteEndArray();
        w.WriteEndObject();

        w.WriteStartObject("traits"u8);
        reader = new ProfileRecordReader(record, view.SharedValues);
        while (reader.NextTrait(out var trait))
        {
            if (!view.Includes(trait.NameId))
                continue;
            w.WritePropertyName(view.NameOf(trait.NameId));
            if (!provenance)
            {
                WriteValue(w, trait);
                continue;
            }
            w.WriteStartObject();
            w.WritePropertyName("value"u8);
            WriteValue(w, trait);
            if (view.SourceNameOf(trait.Source) is { } source)
                w.WriteString("source"u8, source);
            else
                w.WriteNull("source"u8);
            w.WriteString("time"u8, DateTimeOffset.FromUnixTimeMilliseconds(trait.Time));
            w.WriteEndObject();
        }
        w.WriteEndObject();

        w.WriteStartObject("computed"u8);
        var computed = view.ComputedValues;
        while (computed.Next(out var value))
        {
            w.WritePropertyName(view.ComputedNameOf(value.NameId));
            WriteValue(w, value);
        }
        w.WriteEndObject();

        w.WriteStartObject("events"u8);
        reader = new ProfileRecordReader(record, view.SharedValues);
        while (reader.NextEvent(out var e))
        {
            w.WriteStartObject(view.NameOf(e.NameId));
            w.WriteNumber("count"u8, e.Count);
            w.WriteString("first"u8, DateTimeOffset.FromUnixTimeMilliseconds(e.First));
            w.WriteString("last"u8, DateTimeOffset.FromUnixTimeMilliseconds(e.Last));
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteString("createdAt"u8, DateTimeOffset.FromUnixTimeMilliseconds(view.CreatedAt));
        w.WriteString("updatedAt"u8, DateTimeOffset.FromUnixTimeMilliseconds(view.UpdatedAt));
        WriteConsent(w, view);
        if (segments is not null)
        {
            w.WriteStartArray("segments"u8);
            foreach (var name in segments)
                w.WriteStringValue(name);
            w.WriteEndArray();
        }
        if (conflicts is { Count: > 0 })
        {
            // Identifiers that writes carried but the identity rules kept off this profile.
            w.WriteStartArray("conflicts"u8);
            foreach (var c in conflicts)
            {
                w.WriteStartObject();
                w.WriteString("type"u8, c.Type);
                w.WriteString("value"u8, c.Value);
                if (c.Owner != 0)
                    w.WriteString("heldBy"u8, c.Owner.ToString());
                else
                    w.WriteNull("heldBy"u8);
                w.WriteString("reason"u8, c.Reason);
                w.WriteString("at"u8, DateTimeOffset.FromUnixTimeMilliseconds(c.At));
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    static void WriteValue(Utf8JsonWriter w, in TraitEntry trait)
    {
        switch (trait.Kind)
        {
            case TraitKind.Null: w.WriteNullValue(); break;
            case TraitKind.False: w.WriteBooleanValue(false); break;
            case TraitKind.True: w.WriteBooleanValue(true); break;
            case TraitKind.Int: w.WriteNumberValue(trait.Integer); break;
            case TraitKind.Double: w.WriteNumberValue(trait.Number); break;
            case TraitKind.Timestamp: w.WriteStringValue(DateTimeOffset.FromUnixTimeMilliseconds(trait.Integer)); break;
            case TraitKind.String: w.WriteStringValue(trait.Utf8); break;
            case TraitKind.StringList:
                var list = trait.List;
                w.WriteStartArray();
                while (list.Next(out var item))
                    w.WriteStringValue(item);
                w.WriteEndArray();
                break;
        }
    }
}
