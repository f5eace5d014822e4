using System.Buffers;
using Cdp.Protocol;
using Cdp.Server.Binary;
using Cdp.Tests.Infrastructure;
using MessagePack;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using static Cdp.Tests.Infrastructure.RawConnection;

namespace Cdp.Tests;

/// <summary>The transport-agnostic connection state machine, fed bytes directly (no sockets) over the real engine.</summary>
public sealed class BinarySessionTests
{
    [Fact]
    public async Task A_flood_of_pipelined_requests_is_answered_in_bounded_batches()
    {
        await using var server = await TestServer.StartAsync();
        using var session = new BinarySession(server.Engine, NullLogger.Instance);
        var hello = new ReadOnlySequence<byte>(Frame(Opcode.Hello, Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("version"); w.Write(1); }), 1));
        var output = new ArrayBufferWriter<byte>();
        Assert.Equal(ConsumeResult.NeedMoreData, session.Consume(ref hello, output));

        const int Requests = 100_000;
        var frames = new byte[Requests * FrameHeader.Size];
        for (int i = 0; i < Requests; i++)
            Frame(Opcode.Ping, [], (uint)i).CopyTo(frames, i * FrameHeader.Size);
        var buffer = new ReadOnlySequence<byte>(frames);

        int answered = 0, batches = 0;
        while (true)
        {
            output.ResetWrittenCount();
            var outcome = session.Consume(ref buffer, output);
            Assert.True(output.WrittenCount <= BinarySession.MaxBatchOutputBytes + FrameHeader.Size, $"a batch buffered {output.WrittenCount} bytes");
            for (int offset = 0; offset < output.WrittenCount; offset += FrameHeader.Size)
            {
                var header = FrameHeader.Read(output.WrittenSpan[offset..]);
                Assert.Equal((uint)answered++, header.RequestId);
                Assert.Equal(Status.Ok, header.Status);
            }
            batches++;
            if (outcome == ConsumeResult.NeedMoreData)
                break;
            Assert.Equal(ConsumeResult.OutputFull, outcome);
        }
        Assert.Equal(Requests, answered);
        Assert.True(buffer.IsEmpty);
        Assert.True(batches > 1);
    }

    [Fact]
    public async Task Writes_of_one_receive_are_sealed_as_a_run_and_no_profile_key_stays_after_it()
    {
        await using var server = await TestServer.StartAsync();
        using var session = new BinarySession(server.Engine, NullLogger.Instance);
        var frames = new List<byte>(Frame(Opcode.Hello, Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("version"); w.Write(1); }), 1));
        for (int i = 0; i < 16; i++)
            frames.AddRange(Frame(Opcode.Track, Body((ref MessagePackWriter w) =>
            {
                w.WriteMapHeader(2);
                w.Write("identifiers");
                w.WriteMapHeader(1);
                w.Write("email");
                w.Write($"run{i % 4}@keys.test");
                w.Write("event");
                w.Write("Viewed");
            }), (uint)(i + 2)));
        var buffer = new ReadOnlySequence<byte>(frames.ToArray());
        var output = new ArrayBufferWriter<byte>();
        session.Consume(ref buffer, output);
        Assert.False(session.HoldsProfileKeyForTests);
        // Every write's sealed entry opens (history reads committed entries only: commit first).
        server.Engine.Journal.CommitNow();
        using var engineSession = server.Engine.NewSession();
        for (int i = 0; i < 4; i++)
            Assert.Equal(4, engineSession.AccessReport("email", $"run{i}@keys.test")!.Writes!.Count);

        // The engine keeps the key within a run, and clears it when the run ends.
        engineSession.BeginBatch();
        EngineFixture.Track(engineSession, new Cdp.Server.Engine.WriteCommand(), "run0@keys.test");
        Assert.True(engineSession.CipherHoldsKey);
        engineSession.EndBatch();
        Assert.False(engineSession.CipherHoldsKey);
    }

    [Fact]
    public async Task A_partial_frame_is_left_for_the_next_read()
    {
        await using var server = await TestServer.StartAsync();
        using var session = new BinarySession(server.Engine, NullLogger.Instance);
        var ping = Frame(Opcode.Ping, [], 9);
        var bytes = new ReadOnlySequence<byte>([.. ping, .. ping.AsSpan(0, 5)]);
        var output = new ArrayBufferWriter<byte>();
        Assert.Equal(ConsumeResult.NeedMoreData, session.Consume(ref bytes, output));
        Assert.Equal(FrameHeader.Size, output.WrittenCount);
        Assert.Equal(5, bytes.Length);
    }
}
