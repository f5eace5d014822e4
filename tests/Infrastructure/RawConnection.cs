using Xunit;
using System.Buffers;
using System.Net.Sockets;
using Cdp.Protocol;
using MessagePack;

namespace Cdp.Tests.Infrastructure;

/// <summary>Writes a MessagePack body.</summary>
public delegate void WriteBody(ref MessagePackWriter writer);

/// <summary>
/// A bare TCP connection speaking frames byte by byte, for tests that must send what no well-behaved
/// client would (bad lengths, truncated frames, invalid MessagePack).
/// </summary>
public sealed class RawConnection : IDisposable
{
    readonly TcpClient client;
    readonly NetworkStream stream;
    uint nextId = 1;

    RawConnection(TcpClient client)
    {
        this.client = client;
        stream = client.GetStream();
        stream.ReadTimeout = 10_000;
    }

    /// <summary>Connects; with <paramref name="hello"/> also completes the handshake.</summary>
    public static async Task<RawConnection> ConnectAsync(int port, bool hello = true)
    {
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync("127.0.0.1", port);
        var c = new RawConnection(client);
        if (hello)
        {
            var (status, _, _) = await c.RequestAsync(Opcode.Hello, Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("version"); w.Write(1); }));
            if (status != Status.Ok)
                throw new InvalidOperationException("hello failed: " + status);
        }
        return c;
    }

    /// <summary>Encodes a body with MessagePack-CSharp's writer.</summary>
    public static byte[] Body(WriteBody write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(buffer);
        write(ref w);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A GetProfile body looking <paramref name="email"/> up.</summary>
    public static byte[] GetProfileBody(string email) => Body((ref MessagePackWriter w) =>
    {
        w.WriteMapHeader(2);
        w.Write("type"); w.Write("email");
        w.Write("value"); w.Write(email);
    });

    /// <summary>An Identify body for <paramref name="email"/> with <paramref name="traits"/> string traits (<c>trait0</c>...).</summary>
    public static byte[] IdentifyBody(string email, int traits) => Body((ref MessagePackWriter w) =>
    {
        w.WriteMapHeader(2);
        w.Write("identifiers"); w.WriteMapHeader(1); w.Write("email"); w.Write(email);
        w.Write("traits"); w.WriteMapHeader(traits);
        for (int i = 0; i < traits; i++)
        {
            w.Write("trait" + i);
            w.Write("value of trait " + i);
        }
    });

    /// <summary>The two hosts of the binary protocol (<c>Cdp:BinaryTransport</c>), for theories that run on both.</summary>
    public static TheoryData<string> Transports() => new() { "socket", "kestrel" };

    /// <summary>A complete request frame.</summary>
    public static byte[] Frame(Opcode opcode, ReadOnlySpan<byte> body, uint requestId, ushort flags = 0, int? lengthOverride = null)
    {
        var frame = new byte[FrameHeader.Size + body.Length];
        new FrameHeader(lengthOverride ?? body.Length, opcode, Status.Ok, flags, requestId).Write(frame);
        body.CopyTo(frame.AsSpan(FrameHeader.Size));
        return frame;
    }

    /// <summary>Sends raw bytes.</summary>
    public Task SendAsync(byte[] bytes) => stream.WriteAsync(bytes).AsTask();

    /// <summary>Sends one request and reads its response.</summary>
    public async Task<(Status Status, byte[] Body, uint RequestId)> RequestAsync(Opcode opcode, byte[] body, ushort flags = 0)
    {
        uint id = nextId++;
        await SendAsync(Frame(opcode, body, id, flags));
        var response = await ReadFrameAsync();
        if (response is null)
            throw new IOException("connection closed before the response");
        return response.Value;
    }

    /// <summary>Reads one frame, or null when the server closed the connection.</summary>
    public async Task<(Status Status, byte[] Body, uint RequestId)?> ReadFrameAsync()
    {
        var header = new byte[FrameHeader.Size];
        if (!await ReadExactlyOrEndAsync(header))
            return null;
        var h = FrameHeader.Read(header);
        var body = new byte[h.BodyLength];
        if (!await ReadExactlyOrEndAsync(body))
            return null;
        return (h.Status, body, h.RequestId);
    }

    async Task<bool> ReadExactlyOrEndAsync(byte[] buffer)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(read));
            if (n == 0)
                return false;
            read += n;
        }
        return true;
    }

    /// <summary>Decodes an error body into (code, field).</summary>
    public static (string? Code, string? Message, string? Field) Error(byte[] body)
    {
        var r = new MessagePackReader(body);
        string? code = null, message = null, field = null;
        int n = r.ReadMapHeader();
        for (int i = 0; i < n; i++)
        {
            var key = r.ReadString();
            var value = r.ReadString();
            switch (key)
            {
                case "code": code = value; break;
                case "message": message = value; break;
                case "field": field = value; break;
            }
        }
        return (code, message, field);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        stream.Dispose();
        client.Dispose();
    }
}
