using System.Threading.RateLimiting;

namespace Cdp.Server.Access;

/// <summary>A configured key: its name (for logs, never the key), scopes, purposes and rate limit.</summary>
public sealed class ApiKey
{
    readonly HashSet<string> purposes;
    readonly bool allPurposes;

    internal ApiKey(string name, byte[] hash, AccessScope scopes, IEnumerable<string> purposes, TokenBucketRateLimiter? limiter)
    {
        Name = name;
        Hash = hash;
        Scopes = scopes;
        this.purposes = new HashSet<string>(purposes, StringComparer.Ordinal);
        allPurposes = this.purposes.Remove("*");
        Limiter = limiter;
    }

    /// <summary>The key's name in configuration.</summary>
    public string Name { get; }
    internal byte[] Hash { get; }
    /// <summary>What the key may do.</summary>
    public AccessScope Scopes { get; }
    internal TokenBucketRateLimiter? Limiter { get; }

    /// <summary>Whether the key may read for <paramref name="purpose"/>.</summary>
    public bool AllowsPurpose(string purpose) => allPurposes || purposes.Contains(purpose);
}
