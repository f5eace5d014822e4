using Cdp.Protocol;

namespace Cdp.Client;

/// <summary>Finds complete response frames in received bytes; used by the connection's reader loop and by tests.</summary>
public static class FrameDecoder
{
    /// <summary>
    /// Largest response body the client accepts. Responses are not bound by the server's <c>maxBodyLength</c> (that
    /// limits requests), but a length this large can only mean the stream is out of step.
    /// </summary>
    public const int MaxResponseBodyLength = 256 << 20;

    /// <summary>
    /// Reads the header at the start of <paramref name="buffer"/> and reports whether the whole frame is there.
    /// </summary>
    /// <param name="buffer">Received bytes, starting at a frame boundary.</param>
    /// <param name="header">The header, when at least <see cref="FrameHeader.Size"/> bytes are present; otherwise default.</param>
    /// <param name="frameLength">Header plus body length when the header is present; otherwise <see cref="FrameHeader.Size"/>, the bytes needed to learn more.</param>
    /// <returns>True when <paramref name="buffer"/> holds the complete frame.</returns>
    /// <exception cref="InvalidDataException">The header cannot belong to a v1 response (huge length or reserved flags set): framing is lost.</exception>
    public static bool TryReadFrame(ReadOnlySpan<byte> buffer, out FrameHeader header, out int frameLength)
    {
        if (buffer.Length < FrameHeader.Size)
        {
            header = default;
            frameLength = FrameHeader.Size;
            return false;
        }
        header = FrameHeader.Read(buffer);
        if (header.BodyLength < 0 || header.BodyLength > MaxResponseBodyLength)
            throw new InvalidDataException($"Response frame announces a body of {(uint)header.BodyLength} bytes; the stream is out of step.");
        if (header.Flags != 0 && header.Flags != FrameHeader.PushFlag)
            throw new InvalidDataException($"Response frame has reserved flags 0x{header.Flags:x4} set; protocol v1 allows only the push flag.");
        frameLength = FrameHeader.Size + header.BodyLength;
        return buffer.Length >= frameLength;
    }

    /// <summary>Decodes one complete frame into its header and an owned copy of the body.</summary>
    /// <exception cref="InvalidDataException">The bytes are not exactly one valid frame.</exception>
    public static RawResponse ReadResponse(ReadOnlySpan<byte> frame, out FrameHeader header)
    {
        if (!TryReadFrame(frame, out header, out int frameLength) || frameLength != frame.Length)
            throw new InvalidDataException($"Expected one complete frame, got {frame.Length} bytes.");
        return new RawResponse(header.Opcode, header.Status, frame[FrameHeader.Size..].ToArray());
    }
}
