using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json;
using Cdp.Protocol;
using Cdp.Tests.Infrastructure;
using MessagePack;
using Xunit;
using static Cdp.Tests.Infrastructure.RawConnection;

namespace Cdp.Tests;

/// <summary>
/// The catalogue of bad input, over real sockets against a real server: each case gets its specific
/// status, error code and field; nothing stored changes (journal and store tails, a known profile);
/// and the server keeps serving other connections.
/// </summary>
public sealed class MalformedInputTests : IAsyncLifetime
{
    TestServer server = null!;

    public async Task InitializeAsync()
    {
        server = await TestServer.StartAsync();
        await PostAsync("/v1/identify", """{"userId":"seed","traits":{"email":"seed@x.com","plan":"pro"},"messageId":"seed-1"}""");
        await PostAsync("/v1/identify", """{"userId":"other","traits":{"plan":"basic"}}""");
    }

    public async Task DisposeAsync() => await server.DisposeAsync();

    sealed record FrameCase(byte[] Bytes, Status Status, string Code, string? Field, bool Closes = false);

    static byte[] Write(string kind, WriteBody rest, int entries)
        => Body((ref MessagePackWriter w) =>
        {
            w.WriteMapHeader(entries + 1);
            w.Write("identifiers");
            w.WriteMapHeader(1);
            w.Write("email");
            w.Write("new-" + kind + "@x.com");
            rest(ref w);
        });

    static byte[] IdentifyWithTraits(WriteBody traits)
        => Write("identify", (ref MessagePackWriter w) => { w.Write("traits"); traits(ref w); }, 1);

    static byte[] Req(Opcode op, byte[] body) => Frame(op, body, 7);

    static byte[] Raw(params byte[] bytes) => bytes;

    static readonly Dictionary<string, Func<FrameCase>> FrameCases = new()
    {
        ["unknown opcode"] = () => new(Req((Opcode)0x7f, []), Status.UnknownOpcode, ErrorCode.UnknownOpcode, null),
        ["body length above the limit"] = () => new(Frame(Opcode.Ping, [], 7, lengthOverride: int.MaxValue), Status.FrameTooLarge, ErrorCode.FrameTooLarge, null, Closes: true),
        ["reserved flags set"] = () => new(Frame(Opcode.Ping, [], 7, flags: 1), Status.ProtocolError, ErrorCode.Protocol, null, Closes: true),
        ["unsupported version"] = () => new(Req(Opcode.Hello, Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("version"); w.Write(2); })), Status.UnsupportedVersion, ErrorCode.UnsupportedVersion, "version"),
        ["body is an array"] = () => new(Req(Opcode.Identify, Body((ref MessagePackWriter w) => w.WriteArrayHeader(0))), Status.BadRequest, ErrorCode.WrongType, "body"),
        ["never-used MessagePack byte"] = () => new(Req(Opcode.Identify, Raw(0xc1)), Status.BadRequest, ErrorCode.Malformed, "body"),
        ["empty body for identify"] = () => new(Req(Opcode.Identify, []), Status.BadRequest, ErrorCode.Malformed, "body"),
        ["trailing bytes after the map"] = () => new(Req(Opcode.Track, [.. Write("t", (ref MessagePackWriter w) => { w.Write("event"); w.Write("E"); }, 1), 0xc0]), Status.BadRequest, ErrorCode.Malformed, "body"),
        ["map shorter than its header"] = () => new(Req(Opcode.Identify, Raw(0x82, 0xa6, (byte)'t', (byte)'r', (byte)'a', (byte)'i', (byte)'t', (byte)'s', 0x80)), Status.BadRequest, ErrorCode.Malformed, "body"),
        ["identifier value is an integer"] = () => new(Req(Opcode.Identify, Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("identifiers"); w.WriteMapHeader(1); w.Write("email"); w.Write(42); })), Status.BadRequest, ErrorCode.WrongType, "identifiers.email"),
        ["unknown identifier type"] = () => new(Req(Opcode.Identify, Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("identifiers"); w.WriteMapHeader(1); w.Write("shoe_size"); w.Write("42"); })), Status.BadRequest, ErrorCode.UnknownIdentifierType, "identifiers.shoe_size"),
        ["e-mail without @"] = () => new(Req(Opcode.Identify, Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("identifiers"); w.WriteMapHeader(1); w.Write("email"); w.Write("not-an-email"); })), Status.BadRequest, ErrorCode.InvalidIdentifier, "identifiers.email"),
        ["phone with letters"] = () => new(Req(Opcode.Identify, Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("identifiers"); w.WriteMapHeader(1); w.Write("phone"); w.Write("+49 30 CALL ME"); })), Status.BadRequest, ErrorCode.InvalidIdentifier, "identifiers.phone"),
        ["no identifiers"] = () => new(Req(Opcode.Identify, Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("identifiers"); w.WriteMapHeader(0); })), Status.BadRequest, ErrorCode.NoIdentifier, "identifiers"),
        ["oversized string"] = () => new(Req(Opcode.Identify, IdentifyWithTraits((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("bio"); w.Write(new string('x', 70_000)); })), Status.BadRequest, ErrorCode.TooLong, "traits.bio"),
        ["invalid UTF-8 in a value"] = () => new(Req(Opcode.Identify, IdentifyWithTraits((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("name"); w.WriteRaw(Raw(0xa2, 0xff, 0xfe)); })), Status.BadRequest, ErrorCode.InvalidUtf8, "traits.name"),
        ["invalid UTF-8 in a key"] = () => new(Req(Opcode.Identify, IdentifyWithTraits((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.WriteRaw(Raw(0xa2, 0xc3, 0x28)); w.Write(1); })), Status.BadRequest, ErrorCode.InvalidUtf8, "traits"),
        ["nesting deeper than 8"] = () => new(Req(Opcode.Identify, IdentifyWithTraits((ref MessagePackWriter w) =>
        {
            for (int i = 0; i < 10; i++) { w.WriteMapHeader(1); w.Write("a"); }
            w.Write(1);
        })), Status.BadRequest, ErrorCode.TooDeep, "traits.a.a.a.a.a.a.a"),
        ["map claiming 2000 entries"] = () => new(Req(Opcode.Identify, IdentifyWithTraits((ref MessagePackWriter w) => w.WriteRaw(Raw(0xde, 0x07, 0xd0)))), Status.BadRequest, ErrorCode.TooMany, "traits"),
        ["timestamp with 10^9 nanoseconds"] = () => new(Req(Opcode.Identify, Write("ts", (ref MessagePackWriter w) =>
        {
            w.Write("timestamp");
            var data = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(data, 1_000_000_000UL << 34);
            w.WriteRaw(Raw(0xd7, 0xff));
            w.WriteRaw(data);
        }, 1)), Status.BadRequest, ErrorCode.InvalidTimestamp, "timestamp"),
        ["timestamp of 5 bytes"] = () => new(Req(Opcode.Identify, Write("ts5", (ref MessagePackWriter w) => { w.Write("timestamp"); w.WriteRaw(Raw(0xc7, 0x05, 0xff, 0, 0, 0, 0, 1)); }, 1)), Status.BadRequest, ErrorCode.InvalidTimestamp, "timestamp"),
        ["timestamp as a string"] = () => new(Req(Opcode.Identify, Write("tss", (ref MessagePackWriter w) => { w.Write("timestamp"); w.Write("2026-11-22T10:00:00Z"); }, 1)), Status.BadRequest, ErrorCode.WrongType, "timestamp"),
        ["extension of another type"] = () => new(Req(Opcode.Identify, IdentifyWithTraits((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("x"); w.WriteRaw(Raw(0xd4, 0x05, 0x01)); })), Status.BadRequest, ErrorCode.WrongType, "traits.x"),
        ["uint64 above int64"] = () => new(Req(Opcode.Identify, IdentifyWithTraits((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("big"); w.Write(ulong.MaxValue); })), Status.BadRequest, ErrorCode.OutOfRange, "traits.big"),
        ["NaN"] = () => new(Req(Opcode.Identify, IdentifyWithTraits((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("score"); w.Write(double.NaN); })), Status.BadRequest, ErrorCode.OutOfRange, "traits.score"),
        ["bin value"] = () => new(Req(Opcode.Identify, IdentifyWithTraits((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("blob"); w.Write(new byte[] { 1, 2 }); })), Status.BadRequest, ErrorCode.WrongType, "traits.blob"),
        ["list with a number"] = () => new(Req(Opcode.Identify, IdentifyWithTraits((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("tags"); w.WriteArrayHeader(2); w.Write("a"); w.Write(3); })), Status.BadRequest, ErrorCode.WrongType, "traits.tags[1]"),
        ["duplicate key"] = () => new(Req(Opcode.Identify, IdentifyWithTraits((ref MessagePackWriter w) => { w.WriteMapHeader(2); w.Write("plan"); w.Write("a"); w.Write("plan"); w.Write("b"); })), Status.BadRequest, ErrorCode.DuplicateKey, "traits.plan"),
        ["unknown field"] = () => new(Req(Opcode.Identify, Write("uf", (ref MessagePackWriter w) => { w.Write("colour"); w.Write("red"); }, 1)), Status.BadRequest, ErrorCode.UnknownField, "colour"),
        ["track without event"] = () => new(Req(Opcode.Track, Write("te", (ref MessagePackWriter w) => { }, 0)), Status.BadRequest, ErrorCode.Missing, "event"),
        ["get-profile without value"] = () => new(Req(Opcode.GetProfile, Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("type"); w.Write("email"); })), Status.BadRequest, ErrorCode.Missing, "value"),
    };

    public static TheoryData<string> FrameCaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in FrameCases.Keys)
            data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(FrameCaseNames))]
    public async Task Bad_frame_gets_a_specific_error_and_changes_nothing(string name)
    {
        var c = FrameCases[name]();
        var before = await SnapshotAsync();
        using var connection = await ConnectAsync(server.BinaryPort);
        await connection.SendAsync(c.Bytes);
        var response = await connection.ReadFrameAsync();
        Assert.NotNull(response);
        var (status, body, requestId) = response.Value;
        Assert.Equal(7u, requestId);
        Assert.Equal(c.Status, status);
        var (code, message, field) = Error(body);
        Assert.Equal(c.Code, code);
        Assert.False(string.IsNullOrWhiteSpace(message));
        if (c.Field is not null)
            Assert.Equal(c.Field, field);
        if (c.Closes)
            Assert.Null(await connection.ReadFrameAsync());
        else
            Assert.Equal(Status.Ok, (await connection.RequestAsync(Opcode.Ping, [])).Status);
        Assert.Equal(before, await SnapshotAsync());
        await AssertOtherConnectionsServedAsync();
    }

    [Fact]
    public async Task Request_before_hello_is_refused_and_the_connection_stays_usable()
    {
        using var connection = await ConnectAsync(server.BinaryPort, hello: false);
        var (status, body, _) = await connection.RequestAsync(Opcode.GetProfile, Body((ref MessagePackWriter w) => { w.WriteMapHeader(2); w.Write("type"); w.Write("email"); w.Write("value"); w.Write("seed@x.com"); }));
        Assert.Equal(Status.ProtocolError, status);
        Assert.Equal(ErrorCode.Protocol, Error(body).Code);
        Assert.Equal(Status.Ok, (await connection.RequestAsync(Opcode.Ping, [])).Status);
    }

    [Fact]
    public async Task Truncated_frame_then_disconnect_changes_nothing_and_the_server_keeps_serving()
    {
        var before = await SnapshotAsync();
        using (var connection = await ConnectAsync(server.BinaryPort))
        {
            var frame = Req(Opcode.Identify, IdentifyWithTraits((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("plan"); w.Write("half"); }));
            await connection.SendAsync(frame[..(frame.Length / 2)]);
        }
        await AssertOtherConnectionsServedAsync();
        Assert.Equal(before, await SnapshotAsync());
    }

    sealed record JsonCase(string Path, byte[] Body, HttpStatusCode Status, string Code, string? Field);

    static JsonCase J(string path, string body, HttpStatusCode status, string code, string? field) => new(path, Encoding.UTF8.GetBytes(body), status, code, field);

    static readonly Dictionary<string, Func<JsonCase>> JsonCases = new()
    {
        ["trailing comma"] = () => J("/v1/track", """{"event":"X","userId":"u",}""", HttpStatusCode.BadRequest, ErrorCode.Malformed, "body"),
        ["truncated document"] = () => J("/v1/identify", """{"userId":"u","traits":{"a":""", HttpStatusCode.BadRequest, ErrorCode.Malformed, "body"),
        ["userId is a number"] = () => J("/v1/identify", """{"userId":42}""", HttpStatusCode.BadRequest, ErrorCode.WrongType, "userId"),
        ["bad timestamp"] = () => J("/v1/track", """{"event":"X","userId":"u","timestamp":"yesterday"}""", HttpStatusCode.BadRequest, ErrorCode.InvalidTimestamp, "timestamp"),
        ["invalid UTF-8"] = () => new("/v1/identify", [.. "{\"userId\":\""u8, 0xff, 0xfe, .. "\"}"u8], HttpStatusCode.BadRequest, ErrorCode.Malformed, "body"),
        ["deep nesting"] = () => J("/v1/identify", "{\"userId\":\"u\",\"traits\":" + string.Concat(Enumerable.Repeat("{\"a\":", 12)) + "1" + new string('}', 12) + "}", HttpStatusCode.BadRequest, ErrorCode.Malformed, "body"),
        ["duplicate keys"] = () => J("/v1/identify", """{"userId":"u","userId":"v"}""", HttpStatusCode.BadRequest, ErrorCode.Malformed, "body"),
        ["track without event"] = () => J("/v1/track", """{"userId":"u"}""", HttpStatusCode.BadRequest, ErrorCode.Missing, "event"),
        ["no identifier"] = () => J("/v1/identify", """{"traits":{"plan":"x"}}""", HttpStatusCode.BadRequest, ErrorCode.NoIdentifier, "identifiers"),
        ["list of objects"] = () => J("/v1/identify", """{"userId":"u","traits":{"tags":[{"a":1}]}}""", HttpStatusCode.BadRequest, ErrorCode.WrongType, "traits.tags[0]"),
        ["body too large"] = () => J("/v1/identify", "{\"userId\":\"u\",\"traits\":{\"bio\":\"" + new string('x', 1_100_000) + "\"}}", HttpStatusCode.RequestEntityTooLarge, ErrorCode.TooLong, "body"),
        ["escaped lone surrogate"] = () => J("/v1/identify", """{"userId":"u","traits":{"name":"\ud800"}}""", HttpStatusCode.BadRequest, ErrorCode.Malformed, "body"),
        ["list entry too long"] = () => J("/v1/identify", "{\"userId\":\"u\",\"traits\":{\"tags\":[\"" + new string('t', 70_000) + "\"]}}", HttpStatusCode.BadRequest, ErrorCode.TooLong, "traits.tags[0]"),
    };

    public static TheoryData<string> JsonCaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in JsonCases.Keys)
            data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(JsonCaseNames))]
    public async Task Bad_json_gets_problem_details_and_changes_nothing(string name)
    {
        var c = JsonCases[name]();
        var before = await SnapshotAsync();
        using var content = new ByteArrayContent(c.Body);
        content.Headers.ContentType = new("application/json");
        // Expect: 100-continue lets the server refuse an oversized body before the client sends it;
        // otherwise the client may still be writing when the 413 closes the connection (broken pipe).
        using var request = new HttpRequestMessage(HttpMethod.Post, c.Path) { Content = content };
        request.Headers.ExpectContinue = true;
        using var response = await server.Http.SendAsync(request);
        Assert.Equal(c.Status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(c.Code, problem.RootElement.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(problem.RootElement.GetProperty("detail").GetString()));
        if (c.Field is not null)
            Assert.Equal(c.Field, problem.RootElement.GetProperty("field").GetString());
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task Batch_reports_each_bad_message_and_applies_the_good_ones()
    {
        var body = """{"batch":[{"type":"identify","userId":"batch-good","traits":{"plan":"x"}},{"type":"track","userId":"batch-bad"},{"type":"nope","userId":"x"},{"type":"identify","userId":"batch-bad","traits":{"n":"\udc00"}}]}""";
        using var response = await PostAsync("/v1/batch", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var results = doc.RootElement.GetProperty("results");
        Assert.Equal(200, results[0].GetProperty("status").GetInt32());
        Assert.Equal(400, results[1].GetProperty("status").GetInt32());
        Assert.Equal("batch[1].event", results[1].GetProperty("error").GetProperty("field").GetString());
        Assert.Equal(400, results[2].GetProperty("status").GetInt32());
        Assert.Equal(400, results[3].GetProperty("status").GetInt32());
        Assert.Equal("malformed", results[3].GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("/v1/profiles/user_id/batch-good")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Http.GetAsync("/v1/profiles/user_id/batch-bad")).StatusCode);
    }

    async Task<HttpResponseMessage> PostAsync(string path, string json)
    {
        var response = await server.Http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        return response;
    }

    /// <summary>What must not change: journal tail, store tail and the two seeded profiles as read.</summary>
    async Task<string> SnapshotAsync()
    {
        var seed = await server.Http.GetStringAsync("/v1/profiles/email/seed@x.com");
        var other = await server.Http.GetStringAsync("/v1/profiles/user_id/other");
        return $"{server.Engine.Journal.TailAddress}|{server.Engine.Store.Kv.Log.TailAddress}|{seed}|{other}";
    }

    async Task AssertOtherConnectionsServedAsync()
    {
        using var other = await ConnectAsync(server.BinaryPort);
        Assert.Equal(Status.Ok, (await other.RequestAsync(Opcode.Ping, [])).Status);
        var (status, _, _) = await other.RequestAsync(Opcode.GetProfile, Body((ref MessagePackWriter w) => { w.WriteMapHeader(2); w.Write("type"); w.Write("email"); w.Write("value"); w.Write("SEED@x.com "); }));
        Assert.Equal(Status.Ok, status);
    }
}
