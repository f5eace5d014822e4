namespace Cdp.Client;

/// <summary>
/// The connection a request was using failed or could not be established. A write that fails this way may
/// or may not have been applied; resend it with the same <c>messageId</c> to apply it at most once. The next
/// call on the same <see cref="CdpClient"/> reconnects.
/// </summary>
public sealed class CdpConnectionException : IOException
{
    /// <summary>Creates the exception.</summary>
    public CdpConnectionException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
