using System.Diagnostics;
using System.Net.Sockets;
using Cdp.Protocol;
using Cdp.Server.Binary;
using Cdp.Tests.Infrastructure;
using MessagePack;
using Xunit;
using static Cdp.Tests.Infrastructure.RawConnection;

namespace Cdp.Tests;

/// <summary>
/// Both hosts of the binary protocol (<c>Cdp:BinaryTransport</c> = <c>socket</c>, the lean
/// <see cref="SocketBinaryListener"/>, and <c>kestrel</c>, <see cref="BinaryConnectionHandler"/>)
/// over real sockets: what a transport can get wrong (framing across reads, buffer growth,
/// ordering, backpressure, closing) must behave the same on both.
/// </summary>
public sealed class SocketTransportTests
{
    static Task<TestServer> StartAsync(string transport) => TestServer.StartAsync(settings: ("BinaryTransport", transport));

    [Theory]
    [MemberData(nameof(RawConnection.Transports), MemberType = typeof(RawConnection))]
    public async Task Hello_and_ping_are_answered_on_the_reported_port(string transport)
    {
        await using var server = await StartAsync(transport);
        Assert.NotEqual(0, server.BinaryPort);
        using var connection = await ConnectAsync(server.BinaryPort, hello: false);
        Assert.Equal(Status.Ok, (await connection.RequestAsync(Opcode.Ping, [])).Status);
        var (status, body, _) = await connection.RequestAsync(Opcode.Hello, Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("version"); w.Write(1); }));
        Assert.Equal(Status.Ok, status);
        Assert.NotEmpty(body);
        Assert.Equal(Status.Ok, (await connection.RequestAsync(Opcode.Ping, [])).Status);
    }

    [Fact]
    public async Task An_unknown_transport_stops_start_up_with_the_setting_named()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync("iouring"));
        Assert.Contains("BinaryTransport", error.Message);
    }

    [Theory]
    [MemberData(nameof(RawConnection.Transports), MemberType = typeof(RawConnection))]
    public async Task Ten_thousand_pipelined_requests_on_one_connection_are_answered_in_order(string transport)
    {
        await using var server = await StartAsync(transport);
        using var connection = await ConnectAsync(server.BinaryPort);
        Assert.Equal(Status.Ok, (await connection.RequestAsync(Opcode.Identify, IdentifyBody("pipe@x.com", 5))).Status);

        const int Requests = 10_000;
        var lookup = GetProfileBody("pipe@x.com");
        var missing = GetProfileBody("nobody@x.com");
        using var frames = new MemoryStream();
        for (int i = 0; i < Requests; i++)
            frames.Write(i % 3 == 0 ? Frame(Opcode.Ping, [], (uint)i) : Frame(Opcode.GetProfile, i % 3 == 1 ? lookup : missing, (uint)i));
        // Sent while the replies are read, as a pipelining client does; neither side waits for the other.
        var send = connection.SendAsync(frames.ToArray());
        for (int i = 0; i < Requests; i++)
        {
            var reply = await connection.ReadFrameAsync();
            Assert.NotNull(reply);
            Assert.Equal((uint)i, reply.Value.RequestId);
            Assert.Equal(i % 3 == 2 ? Status.NotFound : Status.Ok, reply.Value.Status);
        }
        await send;
    }

    [Theory]
    [MemberData(nameof(RawConnection.Transports), MemberType = typeof(RawConnection))]
    public async Task A_frame_split_across_many_small_writes_is_reassembled(string transport)
    {
        await using var server = await StartAsync(transport);
        using var connection = await ConnectAsync(server.BinaryPort);
        var frame = Frame(Opcode.Identify, IdentifyBody("split@x.com", 3), 41);
        // One to three bytes per write, with NoDelay: the server sees the frame in dozens of receives,
        // the header itself split between two of them.
        for (int offset = 0; offset < frame.Length;)
        {
            int n = Math.Min(1 + offset % 3, frame.Length - offset);
            await connection.SendAsync(frame[offset..(offset + n)]);
            offset += n;
            if (offset % 16 == 0)
                await Task.Delay(1);
        }
        var reply = await connection.ReadFrameAsync();
        Assert.NotNull(reply);
        Assert.Equal(41u, reply.Value.RequestId);
        Assert.Equal(Status.Ok, reply.Value.Status);
        Assert.Equal(Status.Ok, (await connection.RequestAsync(Opcode.GetProfile, GetProfileBody("split@x.com"))).Status);
    }

    [Theory]
    [MemberData(nameof(RawConnection.Transports), MemberType = typeof(RawConnection))]
    public async Task A_frame_larger_than_the_receive_buffer_is_answered_between_small_ones(string transport)
    {
        await using var server = await StartAsync(transport);
        using var connection = await ConnectAsync(server.BinaryPort);
        // About 500 KB: eight properties of 60,000 characters (properties go to the journal only, so
        // the profile size limit does not apply).
        var track = Body((ref MessagePackWriter w) =>
        {
            w.WriteMapHeader(3);
            w.Write("identifiers"); w.WriteMapHeader(1); w.Write("email"); w.Write("large@x.com");
            w.Write("event"); w.Write("Upload Completed");
            w.Write("properties"); w.WriteMapHeader(8);
            for (int i = 0; i < 8; i++)
            {
                w.Write("part" + i);
                w.Write(new string((char)('a' + i), 60_000));
            }
        });
        Assert.True(track.Length > 480_000);
        // Small frames before and after the large one, all in one write: the large frame starts in the
        // middle of a receive and the next one follows it in the same buffer.
        var bytes = new List<byte>();
        bytes.AddRange(Frame(Opcode.Ping, [], 1));
        bytes.AddRange(Frame(Opcode.Track, track, 2));
        bytes.AddRange(Frame(Opcode.Ping, [], 3));
        bytes.AddRange(Frame(Opcode.GetProfile, GetProfileBody("large@x.com"), 4));
        await connection.SendAsync(bytes.ToArray());
        for (uint id = 1; id <= 4; id++)
        {
            var reply = await connection.ReadFrameAsync();
            Assert.NotNull(reply);
            Assert.Equal(id, reply.Value.RequestId);
            Assert.Equal(Status.Ok, reply.Value.Status);
        }
        // And again, so a buffer that shrank back after the first large frame grows once more.
        Assert.Equal(Status.Ok, (await connection.RequestAsync(Opcode.Track, track)).Status);
        Assert.Equal(Status.Ok, (await connection.RequestAsync(Opcode.Ping, [])).Status);
    }

    [Theory]
    [MemberData(nameof(RawConnection.Transports), MemberType = typeof(RawConnection))]
    public async Task A_client_that_does_not_read_its_replies_makes_the_server_stop_reading(string transport)
    {
        await using var server = await StartAsync(transport);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync("127.0.0.1", server.BinaryPort);
        await socket.SendAsync(Frame(Opcode.Hello, Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("version"); w.Write(1); }), 1));
        await socket.SendAsync(Frame(Opcode.Identify, IdentifyBody("flood@x.com", 20), 2));
        await DrainRepliesAsync(socket, 2);

        // Each 40-byte lookup is answered with about 700 bytes: a server that kept reading would have
        // to hold ~17x the bytes the client sends, here over half a GiB of replies.
        var lookup = Frame(Opcode.GetProfile, GetProfileBody("flood@x.com"), 0);
        const int ChunkBytes = 64 * 1024;
        int perChunk = ChunkBytes / lookup.Length;
        var chunk = new byte[perChunk * lookup.Length];
        for (int i = 0; i < perChunk; i++)
            lookup.CopyTo(chunk, i * lookup.Length);
        const int Chunks = 512;
        long chunksSent = 0;
        var sender = Task.Run(async () =>
        {
            for (int i = 0; i < Chunks; i++)
            {
                for (int offset = 0; offset < chunk.Length;)
                    offset += await socket.SendAsync(chunk.AsMemory(offset), SocketFlags.None);
                Interlocked.Increment(ref chunksSent);
            }
        });

        // Wait until the sender is stuck: the server has stopped reading.
        long last = -1;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(500);
            long now = Interlocked.Read(ref chunksSent);
            if (now == last)
                break;
            last = now;
        }
        Assert.False(sender.IsCompleted, "the server read every request although no reply was read");
        // What got through is bounded by socket buffers plus one batch, not by what the client offered.
        long sentBytes = last * chunk.Length;
        Assert.True(sentBytes < 16L << 20, $"the server took {sentBytes} bytes of requests from a client that does not read");

        // Once the client reads, everything is answered and the sender finishes.
        await DrainRepliesAsync(socket, (long)Chunks * perChunk);
        await sender;
    }

    /// <summary>Reads <paramref name="count"/> replies in bulk (hundreds of thousands: one frame at a time is too slow), checking each status.</summary>
    static async Task DrainRepliesAsync(Socket socket, long count)
    {
        var buffer = new byte[1 << 20];
        int filled = 0;
        for (long seen = 0; seen < count;)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
            Assert.True(n > 0, $"the server closed the connection after {seen} of {count} replies");
            filled += n;
            int offset = 0;
            while (seen < count && filled - offset >= FrameHeader.Size)
            {
                var header = FrameHeader.Read(buffer.AsSpan(offset));
                if (filled - offset < FrameHeader.Size + header.BodyLength)
                    break;
                Assert.Equal(Status.Ok, header.Status);
                offset += FrameHeader.Size + header.BodyLength;
                seen++;
            }
            buffer.AsSpan(offset, filled - offset).CopyTo(buffer);
            filled -= offset;
        }
    }

    [Theory]
    [MemberData(nameof(RawConnection.Transports), MemberType = typeof(RawConnection))]
    public async Task A_peer_that_closes_mid_frame_is_closed_and_others_are_still_served(string transport)
    {
        await using var server = await StartAsync(transport);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync("127.0.0.1", server.BinaryPort);
        var frame = Frame(Opcode.Identify, IdentifyBody("half@x.com", 2), 5);
        await socket.SendAsync(Frame(Opcode.Ping, [], 4));
        await socket.SendAsync(frame.AsMemory(0, frame.Length / 2));
        // Half-close: the server sees the end of the stream in the middle of a frame.
        socket.Shutdown(SocketShutdown.Send);
        var received = new byte[256];
        int total = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            int n = await socket.ReceiveAsync(received.AsMemory(total), SocketFlags.None, timeout.Token);
            if (n == 0)
                break;
            total += n;
        }
        // The ping before the partial frame was answered, then the server closed its side.
        Assert.Equal(FrameHeader.Size, total);
        Assert.Equal(4u, FrameHeader.Read(received).RequestId);

        using var other = await ConnectAsync(server.BinaryPort);
        Assert.Equal(Status.Ok, (await other.RequestAsync(Opcode.Ping, [])).Status);
        Assert.Equal(Status.NotFound, (await other.RequestAsync(Opcode.GetProfile, GetProfileBody("half@x.com"))).Status);
    }

    [Theory]
    [MemberData(nameof(RawConnection.Transports), MemberType = typeof(RawConnection))]
    public async Task Shutdown_closes_idle_busy_and_half_sent_connections_promptly(string transport)
    {
        var server = await StartAsync(transport);
        using var idle = await ConnectAsync(server.BinaryPort);
        Assert.Equal(Status.Ok, (await idle.RequestAsync(Opcode.Ping, [])).Status);
        using var halfSent = await ConnectAsync(server.BinaryPort);
        var frame = Frame(Opcode.Ping, [], 9);
        await halfSent.SendAsync(frame[..5]);
        using var writer = await ConnectAsync(server.BinaryPort);
        Assert.Equal(Status.Ok, (await writer.RequestAsync(Opcode.Identify, IdentifyBody("shutdown@x.com", 1))).Status);

        var watch = Stopwatch.StartNew();
        await server.DisposeAsync();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"shutdown took {watch.Elapsed}");
        Assert.Null(await idle.ReadFrameAsync());
        Assert.Null(await halfSent.ReadFrameAsync());
        Assert.Null(await writer.ReadFrameAsync());
    }
}
