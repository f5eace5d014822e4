namespace Cdp.Protocol;

/// <summary>
/// Outcome of a request, carried in the status byte of a response header. Requests always carry
/// <see cref="Ok"/>. Every status other than <see cref="Ok"/> and <see cref="NotFound"/> comes with an
/// error body (<c>{"code","message","field"}</c>). Values are part of the wire contract.
/// </summary>
public enum Status : byte
{
    /// <summary>The request succeeded.</summary>
    Ok = 0,
    /// <summary>No profile is reachable from the given identifier.</summary>
    NotFound = 1,
    /// <summary>The body is malformed or a value breaks a rule; nothing was changed.</summary>
    BadRequest = 2,
    /// <summary>The write's identifiers belong to different profiles; nothing was changed.</summary>
    Conflict = 3,
    /// <summary>A frame larger than the announced limit; the connection is closed after this reply.</summary>
    FrameTooLarge = 4,
    /// <summary>The opcode is not known to this server.</summary>
    UnknownOpcode = 5,
    /// <summary>The frame header breaks the protocol (reserved flags, a request before Hello, ...).</summary>
    ProtocolError = 6,
    /// <summary>The protocol version asked for in Hello is not supported.</summary>
    UnsupportedVersion = 7,
    /// <summary>The server failed; the request may or may not have been applied.</summary>
    InternalError = 8,
    /// <summary>The server cannot accept writes right now (shutting down, journal unavailable).</summary>
    Unavailable = 9,
    /// <summary>The write would make the profile larger than the configured limit; nothing was changed.</summary>
    ProfileTooLarge = 10,
    /// <summary>The read's purpose needs consent the person has not given; the body says why. Nothing is returned.</summary>
    Forbidden = 11,
    /// <summary>No API key was presented, or the key is not valid; the connection is closed after this reply.</summary>
    Unauthorized = 12,
    /// <summary>The key is over its rate limit; retry later. Nothing was changed.</summary>
    RateLimited = 13,
}
