using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using Cdp.Client;
using Cdp.LoadTests.Profiles;
using Cdp.LoadTests.Workload;
using Cdp.Protocol;

namespace Cdp.LoadTests.Protocols;

/// <summary>
/// Cdp's binary protocol (docs/protocol.md): lookup is GetProfile by e-mail, track is Track with a small properties
/// map. Frames come from Cdp.Client's <see cref="FrameEncoder"/>, so they are exactly what the .NET client sends.
/// </summary>
internal sealed class CdpBinaryProtocol : IWireProtocol
{
    public string Name => "cdp";

    public string Describe(Operation operation) => operation == Operation.Lookup
        ? "GetProfile {type: email, value}"
        : $"Track {{identifiers: {{email}}, event: \"{SampleEvent.Name}\", properties: {{sku, price}}}}";

    public void EncodeOperation(Operation operation, int key, IBufferWriter<byte> output)
    {
        // Request id 0 here; each connection stamps its own ids as it queues the frame (CdpFrameCodec.Stamp).
        byte[] frame = operation == Operation.Lookup
            ? FrameEncoder.EncodeGetProfile(0, "email", SampleProfile.Email(key))
            : FrameEncoder.EncodeTrack(0, new TrackRequest
            {
                Identifiers = new Dictionary<string, string> { ["email"] = SampleProfile.Email(key) },
                Event = SampleEvent.Name,
                Properties = new Dictionary<string, object?> { ["sku"] = SampleEvent.Sku(key), ["price"] = SampleEvent.Price },
            });
        output.Write(frame);
    }

    public int RepliesPerOperation(Operation operation) => 1;

    public IWireCodec CreateCodec() => new CdpFrameCodec();

    public async Task HandshakeAsync(Socket socket, CancellationToken cancellationToken)
    {
        byte[] hello = FrameEncoder.EncodeHello(0, "Cdp.LoadTests/compare");
        await socket.SendAsync(hello, SocketFlags.None, cancellationToken).ConfigureAwait(false);

        var header = new byte[FrameHeader.Size];
        await ReceiveExactlyAsync(socket, header, cancellationToken).ConfigureAwait(false);
        var reply = FrameHeader.Read(header);
        if (reply.BodyLength is < 0 or > 1 << 20)
            throw new InvalidDataException($"The Hello reply announces a {reply.BodyLength}-byte body; is this a Cdp binary port?");
        await ReceiveExactlyAsync(socket, new byte[reply.BodyLength], cancellationToken).ConfigureAwait(false);
        if (reply.Opcode != Opcode.Hello || reply.Status != Status.Ok)
            throw new InvalidDataException($"Hello was answered with {reply.Opcode}/{reply.Status}.");
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (buffer.Length > 0)
        {
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
                throw new EndOfStreamException("The server closed the connection during the Hello handshake.");
            buffer = buffer[read..];
        }
    }

    /// <summary>Numbers each connection's requests 1, 2, 3... and checks that replies come back in that order.</summary>
    private sealed class CdpFrameCodec : IWireCodec
    {
        // Replies are bounded by the profile size limit plus names (docs/protocol.md asks clients to take 16 MiB).
        private const int MaxReplyBody = 16 << 20;

        private uint nextRequestId = 1;
        private uint nextReplyId = 1;

        public void Stamp(Span<byte> request) => FrameEncoder.SetRequestId(request, nextRequestId++);

        public bool TryReadReply(ReadOnlySpan<byte> buffered, out int length, out ReplyStatus status)
        {
            length = 0;
            status = ReplyStatus.Error;
            if (buffered.Length < FrameHeader.Size)
                return false;
            uint bodyLength = BinaryPrimitives.ReadUInt32LittleEndian(buffered);
            if (bodyLength > MaxReplyBody)
                throw new InvalidDataException($"A reply announces a {bodyLength}-byte body; framing is lost.");
            if (buffered.Length < FrameHeader.Size + (int)bodyLength)
                return false;

            // Protocol v1 answers in request order; the driver times replies by that order, so it insists on it.
            uint requestId = BinaryPrimitives.ReadUInt32LittleEndian(buffered[8..]);
            if (requestId != nextReplyId)
                throw new InvalidDataException($"Reply to request {requestId} arrived where {nextReplyId} was due; the driver needs in-order replies.");
            nextReplyId++;

            length = FrameHeader.Size + (int)bodyLength;
            status = (Status)buffered[5] switch
            {
                Status.Ok => ReplyStatus.Ok,
                Status.NotFound => ReplyStatus.NotFound,
                _ => ReplyStatus.Error,
            };
            return true;
        }
    }
}
