using System.Net;
using System.Net.Http.Json;
using Cdp.Client;
using Cdp.Protocol;
using Cdp.Server.Segments;
using Cdp.Tests.Infrastructure;
using MessagePack;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Segment subscriptions over the binary protocol, on both transports, against the real server:
/// enter and exit pushes of the chosen segments only, unsubscribe, clean-up on close, refused bad
/// bodies, and a subscriber that does not read is cut off with a final overflow push.
/// </summary>
public sealed class SegmentSubscriptionTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    static (string, string)[] Settings(string transport) =>
    [
        ("BinaryTransport", transport),
        ("Traits:Declared:country", "string"),
        ("Store:CheckpointIntervalSeconds", "0"),
    ];

    static async Task Identify(TestServer s, string user, string country)
    {
        using var r = await s.Http.PostAsJsonAsync("/v1/identify", new { userId = user, traits = new { country } });
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    static async Task Define(TestServer s, string name, string rule)
    {
        using var r = await s.Http.PutAsJsonAsync($"/v1/segments/{name}", new { rule });
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        await s.Engine.Segments.WaitForBackfillsAsync();
    }

    [Theory]
    [InlineData("socket")]
    [InlineData("kestrel")]
    public async Task A_subscriber_receives_enter_and_exit_of_its_segments_only(string transport)
    {
        await using var s = await TestServer.StartAsync(null, null, Settings(transport));
        await Define(s, "de", "traits.country = \"DE\"");
        await Define(s, "fr", "traits.country = \"FR\"");
        await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort });
        await using var sub = await client.SubscribeAsync(["de"]);
        Assert.Equal(["de"], sub.Segments);

        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        await Identify(s, "u1", "FR");   // enters fr: not subscribed
        await Identify(s, "u1", "DE");   // leaves fr, enters de
        var enter = await sub.ReadAsync().AsTask().WaitAsync(Wait);
        Assert.Equal(("de", true, "write"), (enter.Segment, enter.Entered, enter.Reason));
        Assert.True(enter.At >= before && enter.At <= DateTimeOffset.UtcNow.AddSeconds(1));
        var profileId = enter.ProfileId;
        await Identify(s, "u1", "NL");
        var exit = await sub.ReadAsync().AsTask().WaitAsync(Wait);
        Assert.Equal(("de", false, profileId), (exit.Segment, exit.Entered, exit.ProfileId));

        // Pushes interleave with pipelined requests on the same connection without confusing replies.
        await sub.AddAsync(["fr"]);
        var reads = Enumerable.Range(0, 50).Select(_ => client.GetProfileAsync("user_id", "u1")).ToList();
        await Identify(s, "u1", "FR");
        Assert.All(await Task.WhenAll(reads), p => Assert.Equal(profileId, p!.Id));
        Assert.Equal(("fr", true), ((await sub.ReadAsync().AsTask().WaitAsync(Wait)).Segment, true));

        // After unsubscribing, fr changes stop; de changes still come.
        await sub.RemoveAsync(["fr"]);
        await Identify(s, "u1", "DE");
        var next = await sub.ReadAsync().AsTask().WaitAsync(Wait);
        Assert.Equal(("de", true), (next.Segment, next.Entered));
    }

    [Theory]
    [InlineData("socket")]
    [InlineData("kestrel")]
    public async Task Closing_the_subscription_ends_it_on_the_server(string transport)
    {
        await using var s = await TestServer.StartAsync(null, null, Settings(transport));
        await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort });
        var sub = await client.SubscribeAsync(["de"]);
        Assert.True(s.Engine.SegmentFeed.HasSubscribers);
        await sub.DisposeAsync();
        var deadline = DateTime.UtcNow + Wait;
        while (s.Engine.SegmentFeed.HasSubscribers && DateTime.UtcNow < deadline)
            await Task.Delay(10);
        Assert.False(s.Engine.SegmentFeed.HasSubscribers);
    }

    [Fact]
    public async Task Bad_subscribe_bodies_are_refused_and_the_connection_stays_usable()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings("socket"));
        using var raw = await RawConnection.ConnectAsync(s.BinaryPort);
        var bodies = new (byte[] Body, string Code)[]
        {
            (RawConnection.Body((ref MessagePackWriter w) => w.Write("de")), "wrong_type"),
            (RawConnection.Body((ref MessagePackWriter w) => w.WriteMapHeader(0)), "missing_field"),
            (RawConnection.Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("segments"); w.WriteArrayHeader(0); }), "missing_field"),
            (RawConnection.Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("segments"); w.Write("de"); }), "wrong_type"),
            (RawConnection.Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("segments"); w.WriteArrayHeader(1); w.Write(5); }), "wrong_type"),
            (RawConnection.Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("segments"); w.WriteArrayHeader(257); for (int i = 0; i < 257; i++) w.Write("s" + i); }), "too_many"),
            (RawConnection.Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("segments"); w.WriteArrayHeader(1); w.Write(new string('x', 300)); }), "too_long"),
            (RawConnection.Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("segment"); w.WriteArrayHeader(1); w.Write("de"); }), "unknown_field"),
        };
        foreach (var (body, code) in bodies)
        {
            var (status, reply, _) = await raw.RequestAsync(Opcode.Subscribe, body);
            Assert.Equal(Status.BadRequest, status);
            Assert.Equal(code, RawConnection.Error(reply).Code);
        }
        Assert.False(s.Engine.SegmentFeed.HasSubscribers);
        var (ok, _, _) = await raw.RequestAsync(Opcode.Ping, []);
        Assert.Equal(Status.Ok, ok);
    }

    [Fact]
    public async Task A_subscriber_that_does_not_read_is_cut_off_with_an_overflow_push()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings("socket"));
        using var raw = await RawConnection.ConnectAsync(s.BinaryPort);
        var (status, _, _) = await raw.RequestAsync(Opcode.Subscribe,
            RawConnection.Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("segments"); w.WriteArrayHeader(1); w.Write("busy"); }));
        Assert.Equal(Status.Ok, status);
        // Far more than the socket buffers and the queue hold, while the client reads nothing.
        for (int i = 0; i < 200_000 && s.Engine.SegmentFeed.HasSubscribers; i++)
            s.Engine.SegmentFeed.Publish(new Cdp.Server.Segments.SegmentChange((ulong)i + 1, "busy", i % 2 == 0, SegmentChangeReason.Write, 1_700_000_000_000));
        Assert.False(s.Engine.SegmentFeed.HasSubscribers);

        // Now read: pushes in order, then the overflow push, then nothing more.
        int pushes = 0;
        bool overflow = false;
        while (!overflow)
        {
            var frame = await raw.ReadFrameAsync().WaitAsync(Wait) ?? throw new IOException("closed before the overflow push");
            var reader = new MessagePackReader(frame.Body);
            int n = reader.ReadMapHeader();
            for (int k = 0; k < n; k++)
            {
                if (reader.ReadString() == "overflow")
                    overflow = reader.ReadBoolean();
                else
                    reader.Skip();
            }
            if (!overflow)
                pushes++;
        }
        Assert.InRange(pushes, SegmentFeed.DefaultCapacity, 200_000);
        // The server is healthy: the same connection answers, and a new one does.
        var (ping, _, _) = await raw.RequestAsync(Opcode.Ping, []);
        Assert.Equal(Status.Ok, ping);
        await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort });
        await client.PingAsync();
    }

    [Theory]
    [InlineData("socket")]
    [InlineData("kestrel")]
    public async Task A_connection_watches_at_most_1024_segments_and_a_refused_add_changes_nothing(string transport)
    {
        await using var s = await TestServer.StartAsync(null, null, Settings(transport));
        await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort });
        await using var sub = await client.SubscribeAsync(Enumerable.Range(0, 256).Select(i => $"s{i}"));
        for (int batch = 1; batch < 4; batch++)
            await sub.AddAsync(Enumerable.Range(batch * 256, 256).Select(i => $"s{i}"));
        Assert.Equal(1024, sub.Segments.Count);
        // Names already watched do not count twice.
        await sub.AddAsync(["s0", "s1023"]);
        var e = await Assert.ThrowsAsync<CdpException>(() => sub.AddAsync(["one-more", "s5"]));
        Assert.Equal((Status.BadRequest, "too_many"), (e.Status, e.Code));
        Assert.Equal(1024, sub.Segments.Count);
        Assert.DoesNotContain("one-more", sub.Segments);
        await sub.RemoveAsync(["s0"]);
        await sub.AddAsync(["one-more"]);
        Assert.Contains("one-more", sub.Segments);
    }

    [Fact]
    public async Task A_client_that_stops_reading_ends_its_subscription_at_its_buffer_limit_instead_of_growing()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings("socket"));
        await Define(s, "de", "traits.country = \"DE\"");
        await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort, MaxBufferedChanges = 20 });
        await using var sub = await client.SubscribeAsync(["de"]);
        for (int i = 0; i < 30; i++)
            await Identify(s, $"b{i}", "DE");
        // Nothing is read: the 21st change ends the subscription and closes its connection.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (s.Engine.SegmentFeed.HasSubscribers && DateTime.UtcNow < deadline)
            await Task.Delay(10);
        Assert.False(s.Engine.SegmentFeed.HasSubscribers);
        int read = 0;
        var e = await Assert.ThrowsAsync<SubscriptionOverflowException>(async () =>
        {
            await foreach (var change in sub.ReadAllAsync())
                read++;
        });
        Assert.Equal(20, read);
        Assert.Contains("not read", e.Message);
    }
}
