namespace Cdp.Client;

/// <summary>The server's answer to Hello: <c>{"version","server","maxBodyLength"}</c>.</summary>
/// <param name="Version">The protocol version the server will speak on this connection.</param>
/// <param name="Server">The server's name and version, for logs.</param>
/// <param name="MaxBodyLength">Largest request body the server accepts; larger frames close the connection.</param>
public readonly record struct HelloReply(int Version, string Server, int MaxBodyLength);
