using Cdp.Protocol;

namespace Cdp.Server.Engine;

/// <summary>
/// A request the engine refuses, with the status and stable error code both transports report.
/// Thrown only before anything is changed, so a caller that catches it knows no data was touched.
/// </summary>
public sealed class EngineException : Exception
{
    /// <summary>Creates an error with its status, machine-readable code, message and offending field path.</summary>
    public EngineException(Status status, string code, string message, string? field = null)
        : base(message)
    {
        Status = status;
        Code = code;
        Field = field;
    }

    /// <summary>Status reported on the binary protocol (and mapped to an HTTP status by the facade).</summary>
    public Status Status { get; }

    /// <summary>Stable error code, one of <see cref="ErrorCode"/>.</summary>
    public string Code { get; }

    /// <summary>Path of the offending value (e.g. <c>traits.address.city</c>), when there is one.</summary>
    public string? Field { get; }

    /// <summary>Shorthand for a <see cref="Status.BadRequest"/> error.</summary>
    public static EngineException BadRequest(string code, string message, string? field = null)
        => new(Status.BadRequest, code, message, field);
}
