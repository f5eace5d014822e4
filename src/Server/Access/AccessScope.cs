namespace Cdp.Server.Access;

/// <summary>What a request needs of its key.</summary>
[Flags]
public enum AccessScope
{
    /// <summary>Nothing (health).</summary>
    None = 0,
    /// <summary>Reads of profiles, segments and exports.</summary>
    Read = 1,
    /// <summary>Writes: events, traits, consent, imports.</summary>
    Write = 2,
    /// <summary>Administration: segment definitions, unmerge, metrics.</summary>
    Admin = 4,
}
