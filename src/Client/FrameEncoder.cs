using System.Buffers.Binary;
using Cdp.Protocol;
using MessagePack;

namespace Cdp.Client;

/// <summary>
/// Builds complete request frames (12-byte header + body) exactly as <see cref="CdpClient"/> puts them on the wire.
/// The client builds every frame through <see cref="WriteFrame{TState}"/>; the <c>Encode*</c> methods run the same code
/// with a fixed request id so tests and harnesses can compare or replay the bytes.
/// </summary>
public static class FrameEncoder
{
    /// <summary>Offset of the request id inside the header.</summary>
    private const int RequestIdOffset = 8;

    /// <summary>Encodes a Hello frame.</summary>
    public static byte[] EncodeHello(uint requestId, string? client, int version = FrameHeader.ProtocolVersion)
        => EncodeFrame(Opcode.Hello, requestId, (version, client),
            static (ref MessagePackWriter w, (int Version, string? Client) s) => RequestEncoder.WriteHello(ref w, s.Version, s.Client));

    /// <summary>Encodes a Ping frame (empty body).</summary>
    public static byte[] EncodePing(uint requestId) => EncodeFrame(Opcode.Ping, requestId, ReadOnlySpan<byte>.Empty);

    /// <summary>Encodes a Subscribe (or, with <paramref name="opcode"/>, Unsubscribe) frame: <c>{"segments": [...]}</c>.</summary>
    public static byte[] EncodeSubscribe(uint requestId, IReadOnlyList<string> segments, Opcode opcode = Opcode.Subscribe)
        => EncodeFrame(opcode, requestId, segments, WriteSegments);

    /// <summary>Writes a Subscribe/Unsubscribe body.</summary>
    internal static void WriteSegments(ref MessagePack.MessagePackWriter w, IReadOnlyList<string> segments)
    {
        w.WriteMapHeader(1);
        w.WriteString("segments"u8);
        w.WriteArrayHeader(segments.Count);
        foreach (var s in segments)
            ValueEncoder.WriteString(ref w, s, "segments");
    }

    /// <summary>Encodes an Identify frame.</summary>
    /// <exception cref="ArgumentException">A value cannot be encoded or breaks a limit.</exception>
    public static byte[] EncodeIdentify(uint requestId, IdentifyRequest request)
        => EncodeFrame(Opcode.Identify, requestId, request, RequestEncoder.WriteIdentify);

    /// <summary>Encodes a Track frame.</summary>
    /// <exception cref="ArgumentException">A value cannot be encoded or breaks a limit.</exception>
    public static byte[] EncodeTrack(uint requestId, TrackRequest request)
        => EncodeFrame(Opcode.Track, requestId, request, RequestEncoder.WriteTrack);

    /// <summary>Encodes a GetProfile frame.</summary>
    public static byte[] EncodeGetProfile(uint requestId, string type, string value, IReadOnlyList<string>? fields = null, string? purpose = null)
        => EncodeFrame(Opcode.GetProfile, requestId, new GetProfileQuery(type, value, fields, purpose), RequestEncoder.WriteGetProfile);

    /// <summary>Encodes a frame around an already encoded body.</summary>
    public static byte[] EncodeFrame(Opcode opcode, uint requestId, ReadOnlySpan<byte> body)
    {
        var frame = new byte[FrameHeader.Size + body.Length];
        new FrameHeader(body.Length, opcode, Status.Ok, 0, requestId).Write(frame);
        body.CopyTo(frame.AsSpan(FrameHeader.Size));
        return frame;
    }

    /// <summary>Encodes a frame whose body <paramref name="writeBody"/> writes from <paramref name="state"/>.</summary>
    public static byte[] EncodeFrame<TState>(Opcode opcode, uint requestId, TState state, BodyWriter<TState> writeBody)
    {
        using var buffer = new PooledBufferWriter();
        WriteFrame(buffer, opcode, requestId, state, writeBody);
        return buffer.ToArray();
    }

    /// <summary>Overwrites the request id of a frame already encoded (the id is chosen only once the connection is known).</summary>
    public static void SetRequestId(Span<byte> frame, uint requestId)
        => BinaryPrimitives.WriteUInt32LittleEndian(frame[RequestIdOffset..], requestId);

    /// <summary>
    /// Appends one frame to <paramref name="buffer"/>: the header is reserved first and its length patched after the
    /// body is written, so the body is encoded once, straight into its final place.
    /// </summary>
    internal static void WriteFrame<TState>(PooledBufferWriter buffer, Opcode opcode, uint requestId, TState state, BodyWriter<TState> writeBody)
    {
        int headerOffset = buffer.WrittenCount;
        buffer.GetSpan(FrameHeader.Size);
        buffer.Advance(FrameHeader.Size);

        var writer = new MessagePackWriter(buffer);
        writeBody(ref writer, state);
        writer.Flush();

        int bodyLength = buffer.WrittenCount - headerOffset - FrameHeader.Size;
        new FrameHeader(bodyLength, opcode, Status.Ok, 0, requestId).Write(buffer.WrittenSpan[headerOffset..]);
    }

    /// <summary>Appends one frame around an already encoded body to <paramref name="buffer"/>.</summary>
    internal static void WriteFrame(PooledBufferWriter buffer, Opcode opcode, uint requestId, ReadOnlySpan<byte> body)
    {
        Span<byte> span = buffer.GetSpan(FrameHeader.Size + body.Length);
        new FrameHeader(body.Length, opcode, Status.Ok, 0, requestId).Write(span);
        body.CopyTo(span[FrameHeader.Size..]);
        buffer.Advance(FrameHeader.Size + body.Length);
    }
}
