using Cdp.Protocol;
using Cdp.Server.Engine;
using Cdp.Server.Export;
using Cdp.Server.Import;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;

namespace Cdp.Server.Http;

/// <summary>
/// Bulk routes: <c>POST /v1/import</c> (NDJSON of Segment Spec messages or CSV of identify rows),
/// <c>GET /v1/jobs/{id}</c> (an import's progress, counts and rejected rows) and
/// <c>GET /v1/export</c> (every profile, NDJSON or CSV). Streams in and out; the work is done by
/// <see cref="ImportRunner"/> and <see cref="ProfileExporter"/>.
/// </summary>
public static class BulkEndpoints
{
    /// <summary>Maps the routes.</summary>
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/import", ImportAsync);
        app.MapGet("/v1/jobs/{id}", (string id, ImportJobRegistry jobs) => jobs.Get(id) is { } job
            ? Results.Json(job)
            : Results.Problem(statusCode: 404, title: "Not Found", detail: $"no import job '{id}' (finished jobs are kept for the last {ImportJobRegistry.MaxFinished} imports of this process).",
                extensions: new Dictionary<string, object?> { ["code"] = "not_found" }));
        app.MapGet("/v1/export", ExportAsync);
    }

    /// <summary>
    /// Runs an import over the request body as it arrives and answers with the finished job
    /// (counts, rejected rows). <c>?job=ID</c> names the job, so that the uploader can watch
    /// <c>GET /v1/jobs/ID</c> while the upload runs; without it the server picks an id.
    /// </summary>
    static async Task<IResult> ImportAsync(HttpContext http, string? format, string? mapping, string? job, ProfileEngine engine, ImportJobRegistry jobs)
    {
        format ??= http.Request.ContentType?.StartsWith("text/csv", StringComparison.OrdinalIgnoreCase) == true ? "csv" : "ndjson";
        if (format is not ("ndjson" or "csv"))
            return HttpEndpoints.Problem(EngineException.BadRequest(ErrorCode.OutOfRange, $"format must be ndjson or csv, not '{format}'.", "format"));
        if (mapping is not null && format != "csv")
            return HttpEndpoints.Problem(EngineException.BadRequest(ErrorCode.UnknownField, "mapping applies to csv imports only.", "mapping"));
        // An import is as large as its file: rows are bounded one by one instead of the body.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = null;
        if (job is not null && !ImportJobRegistry.IsValidId(job))
            return HttpEndpoints.Problem(EngineException.BadRequest(ErrorCode.Malformed, "job must be 1-64 letters, digits, '-' or '_'.", "job"));
        if (!jobs.TryClaimSlot())
            return Results.Problem(statusCode: 429, title: "Too Many Requests", detail: "another import is running; one runs at a time. Retry when it has finished.",
                extensions: new Dictionary<string, object?> { ["code"] = "import_running" });
        try
        {
            if (jobs.Start(format, job) is not { } import)
                return HttpEndpoints.Problem(new EngineException(Status.Conflict, ErrorCode.DuplicateKey, $"an import job '{job}' exists already.", "job"));
            return await RunAsync(http, mapping, engine, jobs, import);
        }
        finally
        {
            jobs.ReleaseSlot();
        }
    }

    static async Task<IResult> RunAsync(HttpContext http, string? mapping, ProfileEngine engine, ImportJobRegistry jobs, ImportJob job)
    {
        try
        {
            await ImportRunner.RunAsync(engine, job, http.Request.BodyReader, mapping, http.RequestAborted);
        }
        catch (EngineException e)
        {
            jobs.Finish(job, e.Message);
            return HttpEndpoints.Problem(e);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or Microsoft.AspNetCore.Connections.ConnectionResetException or BadHttpRequestException)
        {
            jobs.Finish(job, "the import was interrupted (the upload broke off or the client went away); rows applied so far stay applied: " + e.Message);
            return Results.Problem(statusCode: 400, title: "Bad Request", detail: job.Error, extensions: new Dictionary<string, object?> { ["code"] = "incomplete", ["job"] = job.Id });
        }
        catch (Exception e)
        {
            jobs.Finish(job, e.Message);
            throw;
        }
        jobs.Finish(job, null);
        return Results.Json(job);
    }

    static Task ExportAsync(HttpContext http, string? format, string? fields, string? purpose, ProfileEngine engine)
        => StreamProfilesAsync(http, engine, format, fields, purpose, members: null);

    /// <summary>
    /// Streams profiles (every one, or a segment's <paramref name="members"/>) as NDJSON or CSV for a
    /// purpose; a bad format or purpose is answered as ProblemDetails before anything is streamed.
    /// </summary>
    internal static async Task StreamProfilesAsync(HttpContext http, ProfileEngine engine, string? format, string? fields, string? purpose,
        Cdp.Server.Segments.SegmentMembers? members)
    {
        Cdp.Server.Consent.PurposePolicy? policy;
        try
        {
            policy = engine.Purposes.ForRead(purpose);
            format ??= "ndjson";
            if (format is not ("ndjson" or "csv"))
                throw EngineException.BadRequest(ErrorCode.OutOfRange, $"format must be ndjson or csv, not '{format}'.", "format");
        }
        catch (EngineException e)
        {
            await HttpEndpoints.Problem(e).ExecuteAsync(http);
            return;
        }
        http.Response.ContentType = format == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson";
        var projection = fields?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (format == "csv")
            await ProfileExporter.WriteCsvAsync(engine, http.Response.BodyWriter, projection, http.RequestAborted, members, policy);
        else
            await ProfileExporter.WriteNdjsonAsync(engine, http.Response.BodyWriter, http.RequestAborted, members, policy);
    }
}
