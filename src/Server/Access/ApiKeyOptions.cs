namespace Cdp.Server.Access;

/// <summary>
/// One API key (<c>Cdp:ApiKeys:{name}</c>). The key itself is never configured, only its SHA-256
/// (<c>cdp-server hash-key KEY</c> prints it), so a leaked configuration file does not leak keys.
/// </summary>
public sealed class ApiKeyOptions
{
    /// <summary>SHA-256 of the key, 64 hex digits.</summary>
    public string KeyHash { get; set; } = "";

    /// <summary><c>read</c> (profiles, segments, exports), <c>write</c> (events, traits, consent, imports), <c>admin</c> (segment definitions, unmerge, metrics).</summary>
    public List<string> Scopes { get; set; } = [];

    /// <summary>Purposes the key may read for; <c>*</c> for all.</summary>
    public List<string> Purposes { get; set; } = [];

    /// <summary>Requests per second the key may make on average; 0 for no limit.</summary>
    public int RequestsPerSecond { get; set; }

    /// <summary>Requests the key may make at once above the average (the bucket size); default one second's worth.</summary>
    public int Burst { get; set; }
}
