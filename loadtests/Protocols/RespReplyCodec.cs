using System.Buffers.Text;

namespace Cdp.LoadTests.Protocols;

/// <summary>
/// Finds the end of one RESP2 reply (simple string, error, integer, bulk string, array of those, nested). A top-level
/// error is <see cref="ReplyStatus.Error"/>; an empty array (HGETALL of a missing key) is <see cref="ReplyStatus.NotFound"/>.
/// </summary>
internal sealed class RespReplyCodec : IWireCodec
{
    public static readonly RespReplyCodec Instance = new();

    private const int MaxLineBytes = 64 << 10;

    public void Stamp(Span<byte> request)
    {
        // RESP replies come in command order; nothing to number.
    }

    public bool TryReadReply(ReadOnlySpan<byte> buffered, out int length, out ReplyStatus status)
    {
        length = 0;
        status = ReplyStatus.Error;
        if (buffered.IsEmpty)
            return false;
        int end = SkipValue(buffered, 0, out long header);
        if (end < 0)
            return false;
        length = end;
        status = buffered[0] switch
        {
            (byte)'-' => ReplyStatus.Error,
            (byte)'*' when header == 0 => ReplyStatus.NotFound,
            _ => ReplyStatus.Ok,
        };
        return true;
    }

    /// <summary>
    /// Returns the offset just past the value starting at <paramref name="offset"/>, or -1 when it is incomplete;
    /// <paramref name="header"/> is the number on the value's first line (array count, bulk length, integer).
    /// </summary>
    private static int SkipValue(ReadOnlySpan<byte> buffered, int offset, out long header)
    {
        header = 0;
        if (offset >= buffered.Length)
            return -1;
        int lineEnd = buffered[offset..].IndexOf("\r\n"u8);
        if (lineEnd < 0)
        {
            if (buffered.Length - offset > MaxLineBytes)
                throw new InvalidDataException($"No end of a RESP line within {MaxLineBytes} bytes.");
            return -1;
        }
        byte type = buffered[offset];
        ReadOnlySpan<byte> line = buffered.Slice(offset + 1, lineEnd - 1);
        int next = offset + lineEnd + 2;
        switch (type)
        {
            case (byte)'+' or (byte)'-':
                return next;
            case (byte)':':
                header = Number(line);
                return next;
            case (byte)'$':
                header = Number(line);
                if (header < 0)
                    return next; // null bulk string
                return buffered.Length - next < header + 2 ? -1 : next + (int)header + 2;
            case (byte)'*':
                header = Number(line);
                for (long i = 0; i < header && next >= 0; i++)
                    next = SkipValue(buffered, next, out _);
                return next;
            default:
                throw new InvalidDataException($"Unexpected RESP type byte 0x{type:x2}; framing is lost.");
        }
    }

    private static long Number(ReadOnlySpan<byte> line)
        => Utf8Parser.TryParse(line, out long value, out int consumed) && consumed == line.Length
            ? value
            : throw new InvalidDataException("A RESP length or integer is not a number.");
}
