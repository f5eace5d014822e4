using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;

namespace Cdp.Server.Access;

/// <summary>
/// The configured API keys and the one access check both transports make. Keys are held as SHA-256
/// hashes; a presented key is hashed and compared with every configured hash in constant time (no
/// early exit, no lookup keyed by the secret), so timing tells nothing about how close a guess was.
/// With no keys configured every request is allowed, and the server listens on loopback only.
/// </summary>
public sealed class ApiKeyRegistry
{
    readonly ApiKey[] keys;

    internal ApiKeyRegistry(IReadOnlyDictionary<string, ApiKeyOptions> options, IReadOnlyCollection<string> purposes)
    {
        static InvalidOperationException Bad(string message) => new("Configuration error: " + message);
        var list = new List<ApiKey>();
        var hashes = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, o) in options.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (o.KeyHash.Length != 64 || !o.KeyHash.All(char.IsAsciiHexDigit))
                throw Bad($"ApiKeys:{name}:KeyHash must be the key's SHA-256 in 64 hex digits (cdp-server hash-key KEY prints it).");
            if (!hashes.Add(o.KeyHash))
                throw Bad($"ApiKeys:{name}:KeyHash is the same as another key's.");
            var scopes = AccessScope.None;
            foreach (var s in o.Scopes)
                scopes |= s switch
                {
                    "read" => AccessScope.Read,
                    "write" => AccessScope.Write,
                    "admin" => AccessScope.Admin,
                    _ => throw Bad($"ApiKeys:{name}:Scopes: '{s}' is not a scope (read, write, admin)."),
                };
            if (scopes == AccessScope.None)
                throw Bad($"ApiKeys:{name}:Scopes is empty; give the key read, write and/or admin.");
            foreach (var p in o.Purposes)
                if (p != "*" && !purposes.Contains(p))
                    throw Bad($"ApiKeys:{name}:Purposes names '{p}', which is not a configured purpose.");
            if (o.RequestsPerSecond < 0 || o.Burst < 0)
                throw Bad($"ApiKeys:{name}: RequestsPerSecond and Burst must not be negative.");
            TokenBucketRateLimiter? limiter = null;
            if (o.RequestsPerSecond > 0)
                limiter = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
                {
                    TokenLimit = o.Burst > 0 ? o.Burst : o.RequestsPerSecond,
                    TokensPerPeriod = o.RequestsPerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            list.Add(new ApiKey(name, Convert.FromHexString(o.KeyHash), scopes, o.Purposes, limiter));
        }
        keys = [.. list];
    }

    /// <summary>Whether any key is configured (then every request needs one).</summary>
    public bool Enforced => keys.Length > 0;

    /// <summary>Names of the configured keys.</summary>
    public IEnumerable<string> Names => keys.Select(k => k.Name);

    /// <summary>The SHA-256 of a key, in hex, as <c>KeyHash</c> wants it.</summary>
    public static string HashOf(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>The key matching <paramref name="presented"/>, or null.</summary>
    public ApiKey? Find(ReadOnlySpan<char> presented)
    {
        if (presented.IsEmpty || presented.Length > 1024)
            return null;
        Span<byte> utf8 = stackalloc byte[Encoding.UTF8.GetMaxByteCount(presented.Length)];
        int n = Encoding.UTF8.GetBytes(presented, utf8);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(utf8[..n], hash);
        ApiKey? match = null;
        foreach (var k in keys)
            if (CryptographicOperations.FixedTimeEquals(hash, k.Hash))
                match = k;
        return match;
    }

    /// <summary>
    /// Decides a request: <paramref name="presented"/> is the key it carries (null for none),
    /// <paramref name="scope"/> what it needs, <paramref name="purpose"/> the purpose it reads for.
    /// </summary>
    public AccessDecision Check(ReadOnlySpan<char> presented, bool hasKey, AccessScope scope, string? purpose)
    {
        if (!Enforced || scope == AccessScope.None)
            return AccessDecision.Allow(null);
        if (!hasKey)
            return new(AccessOutcome.Unauthenticated, "unauthenticated", "an API key is required: Authorization: Bearer KEY, X-Api-Key: KEY, or Basic with the key as user name.", null);
        var key = Find(presented);
        if (key is null)
            return new(AccessOutcome.Unauthenticated, "unauthenticated", "the API key is not valid.", null);
        return Check(key, scope, purpose);
    }

    /// <summary>Decides a request by an already authenticated key (a binary connection after its auth frame).</summary>
    public static AccessDecision Check(ApiKey key, AccessScope scope, string? purpose)
    {
        if ((key.Scopes & scope) != scope)
            return new(AccessOutcome.Forbidden, "forbidden", $"the key '{key.Name}' lacks the {scope.ToString().ToLowerInvariant()} scope.", key);
        if (purpose is not null && !key.AllowsPurpose(purpose))
            return new(AccessOutcome.Forbidden, "forbidden", $"the key '{key.Name}' may not read for the purpose '{purpose}'.", key);
        if (key.Limiter is { } limiter)
        {
            using var lease = limiter.AttemptAcquire();
            if (!lease.IsAcquired)
                return new(AccessOutcome.RateLimited, "rate_limited", $"the key '{key.Name}' is over its rate limit; retry in a second.", key);
        }
        return AccessDecision.Allow(key);
    }
}
