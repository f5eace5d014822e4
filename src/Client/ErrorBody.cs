namespace Cdp.Client;

/// <summary>The body of every response whose status is neither Ok nor NotFound: <c>{"code","message","field"}</c>.</summary>
/// <param name="Code">Stable machine-readable code (see <see cref="Cdp.Protocol.ErrorCode"/>).</param>
/// <param name="Message">A sentence for people.</param>
/// <param name="Field">Path of the offending value (such as <c>traits.address.city</c>), when the server named one.</param>
public readonly record struct ErrorBody(string Code, string Message, string? Field);
