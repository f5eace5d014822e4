namespace Cdp.Server.Access;

/// <summary>The outcome of checking a request's key.</summary>
public enum AccessOutcome
{
    /// <summary>Go ahead.</summary>
    Allowed,
    /// <summary>No key, or one that matches none configured (HTTP 401).</summary>
    Unauthenticated,
    /// <summary>A valid key without the scope or purpose the request needs (HTTP 403).</summary>
    Forbidden,
    /// <summary>The key is over its rate limit (HTTP 429).</summary>
    RateLimited,
}

/// <summary>An access decision with the reason given to the caller.</summary>
public readonly record struct AccessDecision(AccessOutcome Outcome, string? Code, string? Reason, ApiKey? Key)
{
    /// <summary>Allowed, for <paramref name="key"/> (null when no keys are configured).</summary>
    public static AccessDecision Allow(ApiKey? key) => new(AccessOutcome.Allowed, null, null, key);
}
