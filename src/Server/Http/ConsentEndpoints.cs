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
    /// <summary>Maps the route.</summary>
    public static void Map(IEndpointRouteBuilder app) => app.MapPut("/v1/profiles/{type}/{value}/consent", PutAsync);

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
