namespace Cdp.Client;

/// <summary>
/// How a <see cref="CdpClient"/> reaches the server. <see cref="CdpClient.ConnectAsync"/> takes a copy, so changing
/// an options object afterwards does not affect clients already created from it.
/// </summary>
public sealed record CdpClientOptions
{
    /// <summary>Host name or IP address of the server's binary endpoint.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>TCP port of the binary protocol (the server's <c>--binary-port</c>).</summary>
    public int Port { get; set; } = 7070;

    /// <summary>
    /// Number of TCP connections; requests are spread over them round-robin. One pipelined connection usually
    /// suffices; more help when one connection's reader loop or the server's per-connection loop is the bottleneck.
    /// </summary>
    public int PoolSize { get; set; } = 1;

    /// <summary>
    /// How long a request may wait for its response before it fails with <see cref="TimeoutException"/> (its request id
    /// is freed; a late response is dropped). <see cref="Timeout.InfiniteTimeSpan"/> disables the timeout.
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Segment changes a subscription holds received and not yet read. An application that stops reading
    /// would otherwise make the buffer grow for as long as the server sends; past this the subscription
    /// ends with <see cref="SubscriptionOverflowException"/> and its connection closes. Default 100,000.
    /// </summary>
    public int MaxBufferedChanges { get; set; } = 100_000;

    /// <summary>How long connecting plus the Hello handshake may take; <see cref="Timeout.InfiniteTimeSpan"/> disables the limit.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Sent in Hello so server logs can tell clients apart; null leaves it out.</summary>
    public string? ClientName { get; set; } = "Cdp.Client";

    /// <summary>Speak TLS (the server has <c>Cdp:Tls</c> configured).</summary>
    public bool UseTls { get; set; }

    /// <summary>The name the server's certificate must carry; default <see cref="Host"/>.</summary>
    public string? TlsHost { get; set; }

    /// <summary>Checks the server's certificate instead of the system's trust store (a private CA, a pinned certificate).</summary>
    public System.Net.Security.RemoteCertificateValidationCallback? RemoteCertificateValidation { get; set; }

    /// <summary>API key presented (Auth) right after Hello on every connection; null for a server without keys.</summary>
    public string? ApiKey { get; set; }

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Host))
            throw new ArgumentException("Host is required.", nameof(Host));
        if (Port is < 1 or > 65535)
            throw new ArgumentOutOfRangeException(nameof(Port), Port, "Port must be between 1 and 65535.");
        if (PoolSize < 1)
            throw new ArgumentOutOfRangeException(nameof(PoolSize), PoolSize, "PoolSize must be at least 1.");
        if (RequestTimeout <= TimeSpan.Zero && RequestTimeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(RequestTimeout), RequestTimeout, "RequestTimeout must be positive or infinite.");
        if (MaxBufferedChanges < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxBufferedChanges), MaxBufferedChanges, "MaxBufferedChanges must be at least 1.");
        if (ConnectTimeout <= TimeSpan.Zero && ConnectTimeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), ConnectTimeout, "ConnectTimeout must be positive or infinite.");
    }
}
