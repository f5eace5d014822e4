using System.Buffers.Text;
using System.Text;

namespace Cdp.LoadTests.Protocols;

/// <summary>
/// Finds the end of one HTTP/1.1 response: the status line, then <c>Content-Length</c> or a chunked body (ASP.NET Core
/// streams JSON results chunked). Headers other than those two are skipped, bodies are not looked at.
/// </summary>
internal sealed class HttpReplyCodec : IWireCodec
{
    public static readonly HttpReplyCodec Instance = new();

    private const int MaxHeaderBytes = 64 << 10;

    public void Stamp(Span<byte> request)
    {
        // HTTP/1.1 pipelining answers strictly in order; nothing to number.
    }

    public bool TryReadReply(ReadOnlySpan<byte> buffered, out int length, out ReplyStatus status)
    {
        length = 0;
        status = ReplyStatus.Error;
        int headerEnd = buffered.IndexOf("\r\n\r\n"u8);
        if (headerEnd < 0)
        {
            if (buffered.Length > MaxHeaderBytes)
                throw new InvalidDataException($"No end of the response headers within {MaxHeaderBytes} bytes.");
            return false;
        }

        ReadOnlySpan<byte> head = buffered[..headerEnd];
        if (head.Length < 12 || !head.StartsWith("HTTP/1.1 "u8) || !Utf8Parser.TryParse(head.Slice(9, 3), out int code, out int digits) || digits != 3)
            throw new InvalidDataException($"Not an HTTP/1.1 status line: '{Printable(head)}'.");

        long contentLength = -1;
        bool chunked = false;
        int lineEnd = head.IndexOf("\r\n"u8);
        ReadOnlySpan<byte> rest = lineEnd < 0 ? [] : head[(lineEnd + 2)..];
        while (!rest.IsEmpty)
        {
            lineEnd = rest.IndexOf("\r\n"u8);
            ReadOnlySpan<byte> line = lineEnd < 0 ? rest : rest[..lineEnd];
            rest = lineEnd < 0 ? [] : rest[(lineEnd + 2)..];
            if (HasName(line, "content-length:"u8))
            {
                if (!Utf8Parser.TryParse(line["content-length:".Length..].Trim((byte)' '), out contentLength, out _) || contentLength < 0)
                    throw new InvalidDataException($"Bad header '{Printable(line)}'.");
            }
            else if (HasName(line, "transfer-encoding:"u8))
            {
                chunked = line.IndexOf("chunked"u8) >= 0;
            }
        }

        int bodyStart = headerEnd + 4;
        int end;
        if (chunked)
        {
            end = ChunkedBodyEnd(buffered, bodyStart);
            if (end < 0)
                return false;
        }
        else if (contentLength >= 0)
        {
            if (buffered.Length - bodyStart < contentLength)
                return false;
            end = bodyStart + (int)contentLength;
        }
        else if (code is 204 or 304 || code < 200)
        {
            end = bodyStart;
        }
        else
        {
            throw new InvalidDataException($"HTTP {code} without Content-Length or chunking (a body delimited by closing the connection cannot be pipelined).");
        }

        length = end;
        status = code switch
        {
            >= 200 and < 300 => ReplyStatus.Ok,
            404 => ReplyStatus.NotFound,
            _ => ReplyStatus.Error,
        };
        return true;
    }

    /// <summary>The offset just past a complete chunked body starting at <paramref name="offset"/>, or -1 if incomplete.</summary>
    private static int ChunkedBodyEnd(ReadOnlySpan<byte> buffered, int offset)
    {
        while (true)
        {
            int lineEnd = buffered[offset..].IndexOf("\r\n"u8);
            if (lineEnd < 0)
                return -1;
            ReadOnlySpan<byte> sizeLine = buffered.Slice(offset, lineEnd);
            int extension = sizeLine.IndexOf((byte)';');
            if (extension >= 0)
                sizeLine = sizeLine[..extension];
            if (!Utf8Parser.TryParse(sizeLine.Trim((byte)' '), out int size, out _, 'x') || size < 0)
                throw new InvalidDataException($"Bad chunk size line '{Printable(buffered.Slice(offset, lineEnd))}'.");
            offset += lineEnd + 2;
            if (size == 0)
            {
                // Trailer section: header lines, then an empty line. Cdp sends none, so usually just "\r\n".
                ReadOnlySpan<byte> trailers = buffered[offset..];
                if (trailers.StartsWith("\r\n"u8))
                    return offset + 2;
                int blankLine = trailers.IndexOf("\r\n\r\n"u8);
                return blankLine < 0 ? -1 : offset + blankLine + 4;
            }
            if (buffered.Length - offset < size + 2)
                return -1;
            offset += size + 2;
        }
    }

    private static bool HasName(ReadOnlySpan<byte> line, ReadOnlySpan<byte> lowerCaseName)
        => line.Length >= lowerCaseName.Length && Ascii.EqualsIgnoreCase(line[..lowerCaseName.Length], lowerCaseName);

    private static string Printable(ReadOnlySpan<byte> bytes)
        => Encoding.ASCII.GetString(bytes[..Math.Min(bytes.Length, 120)]).Replace("\r\n", "\\r\\n");
}
