namespace Cdp.Protocol;

/// <summary>
/// The machine-readable <c>code</c> strings of error bodies, shared by both transports
/// (the HTTP facade puts them in the ProblemDetails <c>type</c> suffix and <c>code</c> extension).
/// </summary>
public static class ErrorCode
{
    /// <summary>The frame body or JSON document is not well-formed.</summary>
    public const string Malformed = "malformed";
    /// <summary>A value has the wrong type for its field.</summary>
    public const string WrongType = "wrong_type";
    /// <summary>A required field is absent.</summary>
    public const string Missing = "missing_field";
    /// <summary>A string is longer than allowed.</summary>
    public const string TooLong = "too_long";
    /// <summary>A map or array has more entries than allowed.</summary>
    public const string TooMany = "too_many";
    /// <summary>Maps and arrays nested deeper than allowed.</summary>
    public const string TooDeep = "too_deep";
    /// <summary>A string is not valid UTF-8.</summary>
    public const string InvalidUtf8 = "invalid_utf8";
    /// <summary>A timestamp is not a valid instant.</summary>
    public const string InvalidTimestamp = "invalid_timestamp";
    /// <summary>An identifier type is not known.</summary>
    public const string UnknownIdentifierType = "unknown_identifier_type";
    /// <summary>An identifier value cannot be normalised (an e-mail without '@', a phone without digits, ...).</summary>
    public const string InvalidIdentifier = "invalid_identifier";
    /// <summary>A write names no identifier at all.</summary>
    public const string NoIdentifier = "no_identifier";
    /// <summary>An identifier was not linked: linking it would break an identity rule (a per-type limit or the per-profile cap).</summary>
    public const string IdentityConflict = "identity_conflict";
    /// <summary>An identifier value is on the blocklist of junk values and was ignored.</summary>
    public const string Blocklisted = "blocklisted";
    /// <summary>The profile's history is not (or no longer) held, so it cannot be rebuilt.</summary>
    public const string HistoryUnavailable = "history_unavailable";
    /// <summary>A number is outside the range that can be stored.</summary>
    public const string OutOfRange = "out_of_range";
    /// <summary>The same key appears twice in one map.</summary>
    public const string DuplicateKey = "duplicate_key";
    /// <summary>A field that is not part of the message shape.</summary>
    public const string UnknownField = "unknown_field";
    /// <summary>The profile would grow beyond the configured size limit.</summary>
    public const string ProfileTooLarge = "profile_too_large";
    /// <summary>The schema registry is full (too many distinct trait or event names).</summary>
    public const string SchemaFull = "schema_full";
    /// <summary>The frame header is not valid for this protocol.</summary>
    public const string Protocol = "protocol";
    /// <summary>The frame body exceeds the announced limit.</summary>
    public const string FrameTooLarge = "frame_too_large";
    /// <summary>The opcode is not known.</summary>
    public const string UnknownOpcode = "unknown_opcode";
    /// <summary>The protocol version is not supported.</summary>
    public const string UnsupportedVersion = "unsupported_version";
    /// <summary>The server cannot take writes now.</summary>
    public const string Unavailable = "unavailable";
    /// <summary>A segment rule does not parse or type-check; the error names the line and column.</summary>
    public const string InvalidRule = "invalid_rule";
    /// <summary>A name (of a segment, say) breaks the naming rules.</summary>
    public const string InvalidName = "invalid_name";
    /// <summary>The thing cannot be deleted or changed while something else depends on it.</summary>
    public const string InUse = "in_use";
    /// <summary>No such thing (a segment, say).</summary>
    public const string NotFound = "not_found";
    /// <summary>The purpose named is not configured.</summary>
    public const string UnknownPurpose = "unknown_purpose";
    /// <summary>The person has not consented to the purpose of the read.</summary>
    public const string NoConsent = "no_consent";
    /// <summary>No API key, or one that is not valid.</summary>
    public const string Unauthenticated = "unauthenticated";
    /// <summary>The key lacks the scope or purpose the request needs.</summary>
    public const string AccessDenied = "forbidden";
    /// <summary>The key is over its rate limit.</summary>
    public const string RateLimited = "rate_limited";
    /// <summary>An unexpected failure inside the server.</summary>
    public const string Internal = "internal";
}
