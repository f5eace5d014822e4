namespace Cdp.LoadTests.Protocols;

/// <summary>The only thing the driver reads from a reply besides its length.</summary>
internal enum ReplyStatus : byte
{
    /// <summary>Success (Cdp status Ok, HTTP 2xx, any RESP reply but an error or an empty HGETALL).</summary>
    Ok,
    /// <summary>The profile does not exist (Cdp NotFound, HTTP 404, an empty HGETALL): the data was not loaded.</summary>
    NotFound,
    /// <summary>The target refused or failed the request.</summary>
    Error,
}
