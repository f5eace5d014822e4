namespace Cdp.LoadTests.Protocols;

/// <summary>One connection's share of a protocol: what must change in a request as it is queued, and where replies end.</summary>
internal interface IWireCodec
{
    /// <summary>Called once per operation on its bytes after they were copied into the send buffer (Cdp writes its request id).</summary>
    void Stamp(Span<byte> request);

    /// <summary>
    /// Looks for one complete reply at the start of <paramref name="buffered"/>. Parses only what is needed to find its
    /// end and its status, nothing of the payload.
    /// </summary>
    /// <returns>False when more bytes are needed.</returns>
    /// <exception cref="InvalidDataException">The bytes are not a reply of this protocol (the connection cannot continue).</exception>
    bool TryReadReply(ReadOnlySpan<byte> buffered, out int length, out ReplyStatus status);
}
