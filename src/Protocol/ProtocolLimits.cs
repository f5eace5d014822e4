namespace Cdp.Protocol;

/// <summary>
/// Limits every peer enforces on bodies before it allocates anything for them. The frame body limit is
/// announced by the server in the Hello reply; the others are fixed by the v1 protocol.
/// </summary>
public static class ProtocolLimits
{
    /// <summary>Default largest frame body the server accepts (1 MiB).</summary>
    public const int DefaultMaxBodyLength = 1 << 20;

    /// <summary>Deepest nesting of maps and arrays in a body (the body itself is depth 1).</summary>
    public const int MaxDepth = 8;

    /// <summary>Most entries in any one map or array.</summary>
    public const int MaxCollectionCount = 1024;

    /// <summary>Most identifiers in one write.</summary>
    public const int MaxIdentifiers = 32;

    /// <summary>Longest string value, in UTF-8 bytes (the most a u16 length can say).</summary>
    public const int MaxStringBytes = 65_535;

    /// <summary>Longest name (map key, trait name, event name, identifier type), in UTF-8 bytes.</summary>
    public const int MaxNameBytes = 256;

    /// <summary>Longest identifier value or messageId, in UTF-8 bytes.</summary>
    public const int MaxIdentifierBytes = 512;
}
