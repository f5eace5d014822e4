using System.Text;
using Cdp.Server.Access;
using Cdp.Server.Engine;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Cdp.Server.Http;

/// <summary>
/// Finds the API key of an HTTP request (<c>Authorization: Bearer</c>, <c>X-Api-Key</c>, or Basic with
/// the key as user name, as tracking SDKs send their write key), works out what the route needs
/// (<see cref="ScopeOf"/>) and asks the engine's <see cref="ApiKeyRegistry"/>; a refusal is answered
/// here, before the endpoint runs, so a refused request changes nothing.
/// </summary>
public sealed class ApiKeyMiddleware(ProfileEngine engine)
{
    /// <summary>Runs the check, then the rest of the pipeline.</summary>
    public async Task InvokeAsync(HttpContext http, Func<Task> next)
    {
        var registry = engine.Access;
        if (!registry.Enforced)
        {
            await next();
            return;
        }
        var scope = ScopeOf(http.Request.Method, http.Request.Path);
        bool hasKey = TryGetKey(http.Request, out var key);
        // Any route that reads for a purpose (profile reads, member and full exports) is held to the key's purposes.
        string? purpose = http.Request.Query.TryGetValue("purpose", out var p) ? p.ToString() : null;
        var decision = registry.Check(key, hasKey, scope, purpose);
        if (decision.Outcome == AccessOutcome.Allowed)
        {
            await next();
            return;
        }
        int status = decision.Outcome switch
        {
            AccessOutcome.Unauthenticated => 401,
            AccessOutcome.Forbidden => 403,
            _ => 429,
        };
        if (status == 401)
            http.Response.Headers.WWWAuthenticate = "Bearer realm=\"cdp\"";
        if (status == 429)
            http.Response.Headers.RetryAfter = "1";
        await Results.Problem(statusCode: status, title: decision.Code!.Replace('_', ' '), detail: decision.Reason, type: "https://cdp.dev/errors/" + decision.Code,
            extensions: new Dictionary<string, object?> { ["code"] = decision.Code }).ExecuteAsync(http);
    }

    /// <summary>What a route needs: reads, writes or administration; health and the API description need nothing.</summary>
    public static AccessScope ScopeOf(string method, PathString path)
    {
        var p = path.Value ?? "";
        if (p is "/health" || p.StartsWith("/openapi", StringComparison.Ordinal))
            return AccessScope.None;
        bool get = HttpMethods.IsGet(method) || HttpMethods.IsHead(method);
        if (p.StartsWith("/v1/profiles/", StringComparison.Ordinal))
        {
            if (p.EndsWith("/consent", StringComparison.Ordinal))
                return AccessScope.Write;
            // Unmerge changes identity; the access export holds everything on a person, whatever the purpose.
            if (p.EndsWith("/unmerge", StringComparison.Ordinal) || p.EndsWith("/export", StringComparison.Ordinal))
                return AccessScope.Admin;
            return get ? AccessScope.Read : AccessScope.Admin;
        }
        if (p.StartsWith("/v1/segments", StringComparison.Ordinal))
            return get ? AccessScope.Read : AccessScope.Admin;
        if (p is "/v1/track" or "/v1/identify" or "/v1/page" or "/v1/screen" or "/v1/alias" or "/v1/batch" or "/v1/import"
            || p.StartsWith("/v1/jobs/", StringComparison.Ordinal))
            return AccessScope.Write;
        // Everything else (the full export, metrics, routes to come) is administration.
        return AccessScope.Admin;
    }

    static bool TryGetKey(HttpRequest request, out ReadOnlySpan<char> key)
    {
        key = default;
        if (request.Headers.TryGetValue("X-Api-Key", out StringValues apiKey) && apiKey.Count == 1)
        {
            key = apiKey[0].AsSpan().Trim();
            return true;
        }
        if (!request.Headers.TryGetValue("Authorization", out var authorization) || authorization.Count != 1)
            return false;
        var value = authorization[0].AsSpan().Trim();
        if (value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            key = value[7..].Trim();
            return true;
        }
        if (value.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            // Segment's SDKs send the write key as the user name with an empty password.
            var encoded = value[6..].Trim();
            if (encoded.Length > 4096)
                return true;
            Span<byte> decoded = stackalloc byte[encoded.Length];
            if (!Convert.TryFromBase64Chars(encoded, decoded, out int n))
                return true;
            var text = Encoding.UTF8.GetString(decoded[..n]);
            int colon = text.IndexOf(':');
            key = (colon >= 0 ? text[..colon] : text).AsSpan();
            return true;
        }
        return true;
    }
}
