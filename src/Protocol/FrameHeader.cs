using System.Buffers.Binary;

namespace Cdp.Protocol;

/// <summary>
/// The fixed 12-byte header in front of every frame, little-endian:
/// <c>u32 bodyLength | u8 opcode | u8 status | u16 flags | u32 requestId</c>.
/// </summary>
public readonly record struct FrameHeader(int BodyLength, Opcode Opcode, Status Status, ushort Flags, uint RequestId)
{
    /// <summary>Size of the header on the wire.</summary>
    public const int Size = 12;

    /// <summary>
    /// The only flag of version 1: set on frames the server pushes unasked (requestId 0), never on
    /// requests or responses, so a client tells a push from a response by the header alone.
    /// </summary>
    public const ushort PushFlag = 0x0001;

    /// <summary>Protocol version spoken by this library.</summary>
    public const int ProtocolVersion = 1;

    /// <summary>
    /// Reads a header from the first <see cref="Size"/> bytes. The length is returned as read (unsigned
    /// values above <see cref="int.MaxValue"/> come back negative) so the caller can reject it before allocating.
    /// </summary>
    public static FrameHeader Read(ReadOnlySpan<byte> source)
    {
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(source);
        return new FrameHeader(
            length > int.MaxValue ? -1 : (int)length,
            (Opcode)source[4],
            (Status)source[5],
            BinaryPrimitives.ReadUInt16LittleEndian(source[6..]),
            BinaryPrimitives.ReadUInt32LittleEndian(source[8..]));
    }

    /// <summary>Writes this header into the first <see cref="Size"/> bytes of <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)BodyLength);
        destination[4] = (byte)Opcode;
        destination[5] = (byte)Status;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], RequestId);
    }

    /// <summary>Rewrites only the body length of a header already written (bodies are written before their length is known).</summary>
    public static void PatchBodyLength(Span<byte> header, int bodyLength)
        => BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)bodyLength);
}
