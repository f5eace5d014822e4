using Cdp.Protocol;

namespace Cdp.Client;

/// <summary>
/// The server answered a request with an error status (anything but Ok and NotFound). The connection stays
/// usable; <see cref="Exception.Message"/> is the server's sentence from the error body.
/// </summary>
public sealed class CdpException : Exception
{
    /// <summary>Creates the exception for an error response.</summary>
    public CdpException(Status status, string code, string message, string? field)
        : base(message)
    {
        Status = status;
        Code = code;
        Field = field;
    }

    /// <summary>The status byte of the response.</summary>
    public Status Status { get; }

    /// <summary>The stable machine-readable code (see <see cref="ErrorCode"/>).</summary>
    public string Code { get; }

    /// <summary>Path of the offending value such as <c>traits.address.city</c>, when the server named one.</summary>
    public string? Field { get; }

    /// <inheritdoc />
    public override string ToString()
        => $"{GetType().FullName}: {Status} ({Code}{(Field is null ? "" : ", field " + Field)}): {Message}{Environment.NewLine}{StackTrace}";
}
