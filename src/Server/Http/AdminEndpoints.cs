using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Cdp.Server.Engine;

namespace Cdp.Server.Http;

/// <summary>
/// Operations on the store itself (admin scope): <c>POST /v1/admin/checkpoint</c> takes a checkpoint
/// now; <c>POST /v1/admin/compact</c> rewrites the store without deleted and superseded records (what
/// makes an erasure complete on disk) and deletes the old files.
/// </summary>
public static class AdminEndpoints
{
    /// <summary>Maps the routes.</summary>
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/admin/checkpoint", CheckpointAsync);
        app.MapPost("/v1/admin/compact", CompactAsync);
    }

    static async Task<IResult> CheckpointAsync(ProfileEngine engine, HttpContext http)
    {
        var metadata = await engine.CheckpointAsync(http.RequestAborted);
        if (metadata is null)
            return Busy("a checkpoint could not be taken now (one was under way, or the journal failed); try again.");
        return Results.Json(new { token = metadata.LogToken, indexToken = metadata.IndexToken, journalAddress = metadata.JournalAddress, takenAt = metadata.TakenAt });
    }

    static async Task<IResult> CompactAsync(ProfileEngine engine, HttpContext http)
    {
        // Not cancelled with the request: a compaction abandoned half-way is undone, wasting the work.
        var result = await engine.CompactAsync(CancellationToken.None);
        if (result is null)
            return Busy("the store cannot be compacted now: the journal has failed.");
        return Results.Json(new { generation = result.Generation, records = result.Records, erasures = result.Erasures, ms = (long)result.Elapsed.TotalMilliseconds });
    }

    static IResult Busy(string detail) => Results.Problem(statusCode: 503, title: "Service Unavailable", detail: detail,
        extensions: new Dictionary<string, object?> { ["code"] = Cdp.Protocol.ErrorCode.Unavailable });
}
