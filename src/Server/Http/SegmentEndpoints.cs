using System.Text.Json;
using Cdp.Protocol;
using Cdp.Server.Engine;
using Cdp.Server.Rules;
using Cdp.Server.Segments;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Cdp.Server.Http;

/// <summary>
/// Segment administration and reads over HTTP: define, list, delete, page members, explain. Parsing
/// and formatting only; the <see cref="SegmentCatalog"/> decides.
/// </summary>
public static class SegmentEndpoints
{
    /// <summary>Most member ids in one page.</summary>
    public const int MaxPage = 10_000;
    /// <summary>Largest PUT body.</summary>
    const int MaxBodyBytes = 64 * 1024;

    /// <summary>Maps the routes.</summary>
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/segments", List);
        app.MapGet("/v1/segments/{name}", Get);
        app.MapPut("/v1/segments/{name}", PutAsync);
        app.MapDelete("/v1/segments/{name}", Delete);
        app.MapGet("/v1/segments/{name}/members", Members);
        app.MapGet("/v1/segments/{name}/export", ExportAsync);
        app.MapGet("/v1/profiles/{type}/{value}/segments", ProfileSegmentsAsync);
        app.MapGet("/v1/profiles/{type}/{value}/segments/{name}", ExplainAsync);
    }

    static object Describe(Segment s) => new
    {
        name = s.Name,
        rule = s.Rule,
        members = s.Members.Count,
        state = s.Backfilling ? "backfilling" : "ready",
        backfill = new { done = Interlocked.Read(ref s.BackfillDone), total = Interlocked.Read(ref s.BackfillTotal) },
        timeDependent = s.Compiled.TimeDependent,
        createdAt = DateTimeOffset.FromUnixTimeMilliseconds(s.CreatedAt),
        updatedAt = DateTimeOffset.FromUnixTimeMilliseconds(s.UpdatedAt),
    };

    static IResult List(ProfileEngine engine)
    {
        var catalog = engine.Segments;
        return Results.Json(new
        {
            segments = catalog.Current.All.OrderBy(s => s.Name, StringComparer.Ordinal).Select(Describe),
            invalid = catalog.Invalid.Select(p => new { name = p.Key, error = p.Value }),
        });
    }

    static IResult Get(string name, ProfileEngine engine)
        => engine.Segments.Current.ByName.TryGetValue(name, out var s) ? Results.Json(Describe(s)) : NoSegment(name);

    static async Task<IResult> PutAsync(HttpContext http, string name, ProfileEngine engine)
    {
        if (http.Request.ContentLength > MaxBodyBytes)
            return HttpEndpoints.Problem(EngineException.BadRequest(ErrorCode.TooLong, $"a segment definition is at most {MaxBodyBytes} bytes.", "body"));
        // A chunked body announces no length: bound what is read instead.
        if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = MaxBodyBytes;
        string rule;
        try
        {
            using var document = await JsonDocument.ParseAsync(http.Request.Body, default, http.RequestAborted);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("rule", out var r))
                return HttpEndpoints.Problem(EngineException.BadRequest(ErrorCode.Missing, "the body must be {\"rule\": \"...\"}.", "rule"));
            if (r.ValueKind != JsonValueKind.String)
                return HttpEndpoints.Problem(EngineException.BadRequest(ErrorCode.WrongType, "rule must be a string.", "rule"));
            foreach (var p in root.EnumerateObject())
                if (p.Name != "rule")
                    return HttpEndpoints.Problem(EngineException.BadRequest(ErrorCode.UnknownField, $"unknown field '{p.Name}'; a segment has only a rule.", p.Name));
            rule = r.GetString()!;
        }
        catch (JsonException e)
        {
            return HttpEndpoints.Problem(EngineException.BadRequest(ErrorCode.Malformed, "the body is not valid JSON: " + e.Message, "body"));
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e) when (e.StatusCode == 413)
        {
            return HttpEndpoints.Problem(EngineException.BadRequest(ErrorCode.TooLong, $"a segment definition is at most {MaxBodyBytes} bytes.", "body"));
        }
        try
        {
            var (segment, created) = engine.Segments.Define(name, rule);
            return Results.Json(Describe(segment), statusCode: created ? 201 : 200);
        }
        catch (RuleException e)
        {
            return Results.Problem(statusCode: 400, title: "invalid rule", detail: e.Message, type: "https://cdp.dev/errors/" + ErrorCode.InvalidRule,
                extensions: new Dictionary<string, object?> { ["code"] = ErrorCode.InvalidRule, ["field"] = "rule", ["line"] = e.Line, ["column"] = e.Column, ["reason"] = e.Reason });
        }
        catch (EngineException e)
        {
            return HttpEndpoints.Problem(e);
        }
    }

    static IResult Delete(string name, ProfileEngine engine)
    {
        try
        {
            return engine.Segments.Delete(name) ? Results.NoContent() : NoSegment(name);
        }
        catch (EngineException e)
        {
            return HttpEndpoints.Problem(e);
        }
    }

    static IResult Members(string name, string? limit, string? cursor, ProfileEngine engine)
    {
        if (!engine.Segments.Current.ByName.TryGetValue(name, out var segment))
            return NoSegment(name);
        int max = 1000;
        if (limit is not null && (!int.TryParse(limit, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out max) || max is < 1 or > MaxPage))
            return HttpEndpoints.Problem(EngineException.BadRequest(ErrorCode.OutOfRange, $"limit must be a whole number from 1 to {MaxPage}, not '{limit}'.", "limit"));
        ulong after = 0;
        if (cursor is not null && !ulong.TryParse(cursor, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out after))
            return HttpEndpoints.Problem(EngineException.BadRequest(ErrorCode.WrongType, $"cursor must be the next_cursor of the previous page, not '{cursor}'.", "cursor"));
        var page = new ulong[max];
        int n = segment.Members.Page(after, page);
        return Results.Json(new
        {
            segment = name,
            count = segment.Members.Count,
            members = page.Take(n).Select(id => id.ToString()),
            next_cursor = n == max ? page[n - 1].ToString() : null,
        });
    }

    /// <summary>
    /// Streams every member's profile, NDJSON (the shape of a profile read) or CSV (the columns of
    /// <c>/v1/export</c>), for a purpose: members without the consent it needs are left out, the rest
    /// show only what it may see.
    /// </summary>
    static async Task ExportAsync(HttpContext http, string name, string? format, string? fields, string? purpose, ProfileEngine engine)
    {
        if (!engine.Segments.Current.ByName.TryGetValue(name, out var segment))
        {
            await NoSegment(name).ExecuteAsync(http);
            return;
        }
        await BulkEndpoints.StreamProfilesAsync(http, engine, format, fields, purpose, segment.Members);
    }

    static async Task<IResult> ProfileSegmentsAsync(HttpContext http, string type, string value, ProfileEngine engine)
    {
        var session = await engine.RentAsync(http.RequestAborted);
        try
        {
            if (session.GetProfile(type, value, null) is not { } view)
                return NoProfile(type, value);
            ulong id = view.MasterId;
            return Results.Json(new
            {
                id = id.ToString(),
                segments = session.SegmentsOf(id).Select(s => new { name = s.Name, since = DateTimeOffset.FromUnixTimeMilliseconds(s.Since) }),
            });
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

    static async Task<IResult> ExplainAsync(HttpContext http, string type, string value, string name, ProfileEngine engine)
    {
        if (!engine.Segments.Current.ByName.TryGetValue(name, out var segment))
            return NoSegment(name);
        var session = await engine.RentAsync(http.RequestAborted);
        try
        {
            if (session.ExplainSegment(type, value, segment) is not { } e)
                return NoProfile(type, value);
            return Results.Json(new
            {
                id = e.ProfileId.ToString(),
                segment = e.Segment,
                member = e.Member,
                since = e.Since is { } s ? DateTimeOffset.FromUnixTimeMilliseconds(s) : (DateTimeOffset?)null,
                rule = segment.Rule,
                conditions = e.Conditions.Select(c => new { depth = c.Depth, condition = c.Condition, holds = c.Holds, value = c.Values }),
            });
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

    static IResult NoSegment(string name) => Results.Problem(statusCode: 404, title: "Not Found", detail: $"no segment is named '{name}'.",
        extensions: new Dictionary<string, object?> { ["code"] = ErrorCode.NotFound });

    static IResult NoProfile(string type, string value) => Results.Problem(statusCode: 404, title: "Not Found", detail: $"no profile is reachable from {type} '{value}'.",
        extensions: new Dictionary<string, object?> { ["code"] = ErrorCode.NotFound });
}
