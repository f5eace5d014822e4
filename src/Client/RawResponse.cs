using Cdp.Protocol;

namespace Cdp.Client;

/// <summary>
/// A response frame as received, for callers that encode and decode bodies themselves
/// (<see cref="CdpClient.SendAsync"/>).
/// </summary>
/// <param name="Opcode">The opcode the response repeats from its request.</param>
/// <param name="Status">The outcome.</param>
/// <param name="Body">
/// The MessagePack body; a copy owned by the caller, so it stays valid after the connection reuses its
/// receive buffer. Empty (never null) when the frame had no body.
/// </param>
public readonly record struct RawResponse(Opcode Opcode, Status Status, byte[] Body)
{
    /// <summary>True when <see cref="Status"/> is <see cref="Status.Ok"/>.</summary>
    public bool IsOk => Status == Status.Ok;

    /// <summary>
    /// Throws the <see cref="CdpException"/> carried by an error response; does nothing for <see cref="Status.Ok"/>
    /// and <see cref="Status.NotFound"/>, which have no error body.
    /// </summary>
    public void ThrowIfError()
    {
        if (Status is not (Status.Ok or Status.NotFound))
            throw ResponseDecoder.CreateException(Status, Body);
    }
}
