using System.Buffers;
using Cdp.Protocol;
using MessagePack;

namespace Cdp.Bench;

/// <summary>Builds request frames for benchmarks that feed a <see cref="Cdp.Server.Binary.BinarySession"/> without sockets.</summary>
static class RequestFrames
{
    /// <summary>Writes a request body.</summary>
    public delegate void BodyWriter(ref MessagePackWriter w);

    /// <summary>Appends one frame (header and body) to <paramref name="output"/>.</summary>
    public static void Append(ArrayBufferWriter<byte> output, Opcode opcode, uint id, BodyWriter body)
    {
        var b = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(b);
        body(ref w);
        w.Flush();
        var span = output.GetSpan(FrameHeader.Size + b.WrittenCount);
        new FrameHeader(b.WrittenCount, opcode, Status.Ok, 0, id).Write(span);
        b.WrittenSpan.CopyTo(span[FrameHeader.Size..]);
        output.Advance(FrameHeader.Size + b.WrittenCount);
    }

    /// <summary>A Hello frame for protocol version 1.</summary>
    public static void Hello(ArrayBufferWriter<byte> output)
        => Append(output, Opcode.Hello, 0, (ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("version"); w.Write(1); });
}
