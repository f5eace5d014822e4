using Cdp.Protocol;
using Cdp.Server.Binary;
using Cdp.Tests.Infrastructure;
using MessagePack;
using Xunit;
using static Cdp.Tests.Infrastructure.RawConnection;

namespace Cdp.Tests;

/// <summary>
/// Binary writes are acknowledged from the journal's commit thread (WriteJournal.WaitForCommitAsync with
/// resumeOnCommitThread): a reply must never go out before its commit, and the commit thread must only
/// send replies, never process requests or tear connections down (both would hold up every other
/// connection's commit).
/// </summary>
public sealed class WriteAcknowledgementTests
{
    [Theory]
    [MemberData(nameof(RawConnection.Transports), MemberType = typeof(RawConnection))]
    public async Task A_write_whose_commit_fails_is_never_acknowledged(string transport)
    {
        // No timed checkpoint: its commit must not be the one that takes the injected failure.
        await using var server = await TestServer.StartAsync(settings: [("BinaryTransport", transport), ("Store:CheckpointIntervalSeconds", "0")]);
        using var connection = await ConnectAsync(server.BinaryPort);
        // The next commit record write fails: whichever commit that is, the write below is not durable.
        server.Engine.Journal.CommitFileForTests.FailNextWriteForTests = new IOException("no space left on device");
        await connection.SendAsync(Frame(Opcode.Identify, IdentifyBody("lost@x.com", 1), 7));
        // The read's own timeout (RawConnection: 10 s) is only a bound: the connection closes when the journal fails.
        (Status Status, byte[] Body, uint RequestId)? reply;
        try
        {
            reply = await connection.ReadFrameAsync();
        }
        catch (IOException)
        {
            reply = null; // closed with a reset (Kestrel): not acknowledged either
        }
        Assert.True(reply is null || reply.Value.Status != Status.Ok, "a write was acknowledged although its commit failed");
        Assert.NotNull(server.Engine.Journal.Failure);
    }

    [Fact]
    public async Task Frames_waiting_behind_a_write_are_never_processed_on_the_commit_thread()
    {
        await using var server = await TestServer.StartAsync(settings: ("BinaryTransport", "socket"));
        using var connection = await ConnectAsync(server.BinaryPort);
        Assert.Equal(Status.Ok, (await connection.RequestAsync(Opcode.Identify, IdentifyBody("fat@x.com", 60))).Status);
        // Writes pipelined with lookups of a large profile, far more bytes than one receive takes:
        // after each batch's commit the next bytes are already waiting (a synchronous receive), and
        // batches that reach the output limit have frames left after their commit.
        using var frames = new MemoryStream();
        const int Requests = 3000;
        var lookup = GetProfileBody("fat@x.com");
        for (int i = 0; i < Requests; i++)
            frames.Write(i % 10 == 0 ? Frame(Opcode.Identify, IdentifyBody($"p{i % 97}@x.com", 1), (uint)i) : Frame(Opcode.GetProfile, lookup, (uint)i));
        var send = connection.SendAsync(frames.ToArray());
        for (int i = 0; i < Requests; i++)
        {
            var reply = await connection.ReadFrameAsync();
            Assert.NotNull(reply);
            Assert.Equal((uint)i, reply.Value.RequestId);
            Assert.Equal(Status.Ok, reply.Value.Status);
        }
        await send;
        Assert.Equal(0, BinarySession.ConsumedOnCommitThreadForTests);
    }

    [Fact]
    public async Task A_connection_closed_after_a_write_is_torn_down_off_the_commit_thread()
    {
        await using var server = await TestServer.StartAsync(settings: ("BinaryTransport", "socket"));
        using var connection = await ConnectAsync(server.BinaryPort);
        // A write, then a frame with reserved flags set: the batch is answered after its commit, then the connection closes.
        await connection.SendAsync([.. Frame(Opcode.Identify, IdentifyBody("closing@x.com", 1), 1), .. Frame(Opcode.Ping, [], 2, flags: 1)]);
        Assert.Equal(Status.Ok, (await connection.ReadFrameAsync())!.Value.Status);
        Assert.Equal(Status.ProtocolError, (await connection.ReadFrameAsync())!.Value.Status);
        Assert.Null(await connection.ReadFrameAsync());   // closed: the session was disposed before the socket
        Assert.Equal(0, BinarySession.DisposedOnCommitThreadForTests);
    }
}
