using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Cdp.Client;
using Cdp.Protocol;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Keeps docs/protocol.md and Cdp.Client honest with each other: every <c>```hex frame=NAME</c> block must be
/// byte-for-byte what the client encodes (header included), and the error example must decode as the document says.
/// </summary>
public sealed partial class ProtocolDocumentTests
{
    static readonly Lazy<DocumentedFrames> Document = new(DocumentedFrames.Load);

    [Fact]
    public void DocumentHasExactlyTheFramesThisTestChecks()
    {
        Assert.Equal(["error", "get", "hello", "identify", "ping", "push", "subscribe"], Document.Value.Frames.Keys.Order());
    }

    [Theory]
    [InlineData("hello", 1u)]
    [InlineData("ping", 2u)]
    [InlineData("identify", 3u)]
    [InlineData("get", 4u)]
    [InlineData("error", 5u)]
    [InlineData("subscribe", 6u)]
    public void BlockHeaderAgreesWithItsProseAndBody(string name, uint statedRequestId)
    {
        DocumentedFrame frame = Document.Value.Frames[name];
        FrameHeader header = FrameHeader.Read(frame.Bytes);
        Assert.Equal(statedRequestId, frame.StatedRequestId);
        Assert.Equal(statedRequestId, header.RequestId);
        Assert.Equal(frame.Bytes.Length - FrameHeader.Size, header.BodyLength);
        Assert.Equal(0, header.Flags);
    }

    [Fact]
    public void HelloMatchesDocument()
        => AssertFrame("hello", FrameEncoder.EncodeHello(1, "doc"));

    [Fact]
    public void PingMatchesDocument()
        => AssertFrame("ping", FrameEncoder.EncodePing(2));

    [Fact]
    public void IdentifyMatchesDocument()
        => AssertFrame("identify", FrameEncoder.EncodeIdentify(3, DocumentedIdentify()));

    [Fact]
    public void SubscribeMatchesDocument()
        => AssertFrame("subscribe", FrameEncoder.EncodeSubscribe(6, ["vip"]));

    /// <summary>The push example is what the server writes for that change, and carries the push flag and request id 0.</summary>
    [Fact]
    public void PushMatchesWhatTheServerWrites()
    {
        var written = new System.Buffers.ArrayBufferWriter<byte>();
        Cdp.Server.Binary.BinaryResponseWriter.WriteSegmentChangeFrame(written, new Cdp.Server.Segments.SegmentChange(
            42, "vip", true, Cdp.Server.Segments.SegmentChangeReason.Time, DateTimeOffset.Parse("2026-01-01T00:00:00Z").ToUnixTimeMilliseconds()));
        Assert.Equal(Convert.ToHexString(Document.Value.Frames["push"].Bytes), Convert.ToHexString(written.WrittenSpan));
        var header = FrameHeader.Read(written.WrittenSpan);
        Assert.Equal((FrameHeader.PushFlag, 0u, Opcode.SegmentChange), (header.Flags, header.RequestId, header.Opcode));
    }

    [Fact]
    public void GetProfileMatchesDocument()
        => AssertFrame("get", FrameEncoder.EncodeGetProfile(4, "email", "ann@x.com"));

    [Fact]
    public async Task RealServerAnswersTheDocumentedFrames()
    {
        await using var server = await Infrastructure.TestServer.StartAsync();
        using var connection = await Infrastructure.RawConnection.ConnectAsync(server.BinaryPort, hello: false);
        foreach (var (name, opcode, requestId) in new[] { ("hello", Opcode.Hello, 1u), ("ping", Opcode.Ping, 2u), ("identify", Opcode.Identify, 3u), ("get", Opcode.GetProfile, 4u) })
        {
            await connection.SendAsync(Document.Value.Frames[name].Bytes);
            var reply = await connection.ReadFrameAsync();
            Assert.NotNull(reply);
            Assert.Equal(Status.Ok, reply.Value.Status);
            Assert.Equal(requestId, reply.Value.RequestId);
            if (opcode == Opcode.GetProfile)
            {
                var profile = ResponseDecoder.DecodeProfile(reply.Value.Body);
                Assert.Equal("pro", profile.Traits["plan"]);
                Assert.Equal(["ann@x.com"], profile.Identifiers["email"]);
            }
        }
    }

    [Fact]
    public void ErrorFrameDecodesAsDocumented()
    {
        RawResponse response = FrameDecoder.ReadResponse(Document.Value.Frames["error"].Bytes, out FrameHeader header);

        Assert.Equal(5u, header.RequestId);
        Assert.Equal(Opcode.Track, response.Opcode);
        Assert.Equal(Status.BadRequest, response.Status);
        ErrorBody error = ResponseDecoder.DecodeError(response.Body);
        Assert.Equal(new ErrorBody(ErrorCode.Missing, "event is required", "event"), error);

        var thrown = Assert.Throws<CdpException>(response.ThrowIfError);
        Assert.Equal(Status.BadRequest, thrown.Status);
        Assert.Equal("missing_field", thrown.Code);
        Assert.Equal("event", thrown.Field);
        Assert.Equal("event is required", thrown.Message);
    }

    /// <summary>
    /// The document's examples form one session (request ids 1 to 5), so a real <see cref="CdpClient"/> talking to a
    /// scripted peer must put exactly those bytes on the socket — this checks the send path, not just the encoders.
    /// </summary>
    [Fact]
    public async Task ClientPutsTheDocumentedSessionOnTheWire()
    {
        DocumentedFrames doc = Document.Value;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;

        Task<CdpClient> connecting = CdpClient.ConnectAsync(new CdpClientOptions { Port = port, ClientName = "doc", RequestTimeout = TimeSpan.FromSeconds(10) });
        using Socket peer = await listener.AcceptSocketAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        Assert.Equal(Hex(doc.Frames["hello"].Bytes), Hex(await ReceiveFrameAsync(peer, timeout.Token)));
        await peer.SendAsync(ScriptedReplies.Hello(1), SocketFlags.None);
        await using CdpClient client = await connecting;

        Task ping = client.PingAsync();
        Assert.Equal(Hex(doc.Frames["ping"].Bytes), Hex(await ReceiveFrameAsync(peer, timeout.Token)));
        await peer.SendAsync(ScriptedReplies.Empty(Opcode.Ping, Status.Ok, 2), SocketFlags.None);
        await ping;

        Task<WriteResult> identify = client.IdentifyAsync(DocumentedIdentify());
        Assert.Equal(Hex(doc.Frames["identify"].Bytes), Hex(await ReceiveFrameAsync(peer, timeout.Token)));
        await peer.SendAsync(ScriptedReplies.WriteResult(3, "p1"), SocketFlags.None);
        Assert.Equal(new WriteResult("p1", true, false), await identify);

        Task<Profile?> get = client.GetProfileAsync("email", "ann@x.com");
        Assert.Equal(Hex(doc.Frames["get"].Bytes), Hex(await ReceiveFrameAsync(peer, timeout.Token)));
        await peer.SendAsync(ScriptedReplies.Empty(Opcode.GetProfile, Status.NotFound, 4), SocketFlags.None);
        Assert.Null(await get);

        // TrackRequest cannot be built without an event, so send the bad body raw: {"identifiers":{...}} and no "event".
        byte[] trackWithoutEvent = RequestEncoder.EncodeIdentify(new IdentifyRequest { Identifiers = new Dictionary<string, string> { ["email"] = "ann@x.com" } });
        Task<RawResponse> track = client.SendAsync(Opcode.Track, trackWithoutEvent);
        await ReceiveFrameAsync(peer, timeout.Token);
        await peer.SendAsync(doc.Frames["error"].Bytes, SocketFlags.None);
        RawResponse response = await track;
        var thrown = Assert.Throws<CdpException>(response.ThrowIfError);
        Assert.Equal((Status.BadRequest, "missing_field", "event"), (thrown.Status, thrown.Code, thrown.Field));
    }

    static IdentifyRequest DocumentedIdentify() => new()
    {
        Identifiers = new Dictionary<string, string> { ["email"] = "ann@x.com" },
        Traits = new Dictionary<string, object?> { ["plan"] = "pro" },
    };

    static void AssertFrame(string name, byte[] encoded)
        => Assert.Equal(Hex(Document.Value.Frames[name].Bytes), Hex(encoded));

    // Hex strings make a mismatch readable in the test output, unlike two byte arrays.
    static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    static async Task<byte[]> ReceiveFrameAsync(Socket socket, CancellationToken cancellationToken)
    {
        byte[] header = new byte[FrameHeader.Size];
        await ReceiveExactlyAsync(socket, header, cancellationToken);
        int bodyLength = FrameHeader.Read(header).BodyLength;
        byte[] frame = new byte[FrameHeader.Size + bodyLength];
        header.CopyTo(frame, 0);
        await ReceiveExactlyAsync(socket, frame.AsMemory(FrameHeader.Size), cancellationToken);
        return frame;
    }

    static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (!destination.IsEmpty)
        {
            int received = await socket.ReceiveAsync(destination, SocketFlags.None, cancellationToken);
            if (received == 0)
                throw new EndOfStreamException("The client closed the connection.");
            destination = destination[received..];
        }
    }

    [GeneratedRegex(@"^```hex frame=(?<name>[A-Za-z0-9_-]+)[ \t]*\r?\n(?<hex>.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex HexBlock();

    [GeneratedRegex(@"request (?:id )?(?<id>\d+)", RegexOptions.IgnoreCase)]
    private static partial Regex StatedRequestId();

    sealed record DocumentedFrame(byte[] Bytes, uint? StatedRequestId);

    sealed record DocumentedFrames(IReadOnlyDictionary<string, DocumentedFrame> Frames)
    {
        public static DocumentedFrames Load()
        {
            string text = File.ReadAllText(Path.Combine(FindRepositoryRoot(), "docs", "protocol.md"));
            var frames = new Dictionary<string, DocumentedFrame>(StringComparer.Ordinal);
            foreach (Match block in HexBlock().Matches(text))
            {
                string name = block.Groups["name"].Value;
                string hex = string.Concat(block.Groups["hex"].Value.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
                Assert.True(hex.Length % 2 == 0, $"frame={name}: odd number of hex digits");
                byte[] bytes = Convert.FromHexString(hex);

                // The sentence right before a block states its request id ("Hello, request id 1, ...").
                string before = text[..block.Index].TrimEnd();
                string prose = before[(before.LastIndexOf("\n\n", StringComparison.Ordinal) + 1)..];
                Match stated = StatedRequestId().Match(prose);
                uint? id = stated.Success ? uint.Parse(stated.Groups["id"].Value, CultureInfo.InvariantCulture) : null;

                Assert.True(frames.TryAdd(name, new DocumentedFrame(bytes, id)), $"frame={name} appears twice");
            }
            return new DocumentedFrames(frames);
        }

        static string FindRepositoryRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Cdp.sln")))
                    return dir.FullName;
            }
            throw new DirectoryNotFoundException($"No folder containing Cdp.sln above {AppContext.BaseDirectory}.");
        }
    }

    /// <summary>Server-side frames the scripted peer answers with, written with the client's own encoders.</summary>
    static class ScriptedReplies
    {
        public static byte[] Hello(uint requestId)
            => Reply(Opcode.Hello, requestId, static (ref MessagePack.MessagePackWriter w, int _) =>
            {
                w.WriteMapHeader(3);
                w.Write("version");
                w.Write(1);
                w.Write("server");
                w.Write("scripted");
                w.Write("maxBodyLength");
                w.Write(ProtocolLimits.DefaultMaxBodyLength);
            });

        public static byte[] WriteResult(uint requestId, string id)
            => Reply(Opcode.Identify, requestId, (ref MessagePack.MessagePackWriter w, int _) =>
            {
                w.WriteMapHeader(3);
                w.Write("id");
                w.Write(id);
                w.Write("created");
                w.Write(true);
                w.Write("duplicate");
                w.Write(false);
            });

        public static byte[] Empty(Opcode opcode, Status status, uint requestId)
        {
            byte[] frame = new byte[FrameHeader.Size];
            new FrameHeader(0, opcode, status, 0, requestId).Write(frame);
            return frame;
        }

        static byte[] Reply(Opcode opcode, uint requestId, BodyWriter<int> body)
            => FrameEncoder.EncodeFrame(opcode, requestId, 0, body); // Status byte stays 0 = Ok.
    }
}
