using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Cdp.Client;
using Cdp.Protocol;
using Cdp.Server.Access;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// API keys over HTTP against the real server: every route refuses a request without a key, with a
/// wrong key, or with a key lacking the scope or purpose it needs, and a refused request changes
/// nothing; the three header forms work; a key over its rate limit is slowed down.
/// </summary>
public sealed class ApiKeyTests
{
    const string ReaderKey = "reader-secret-1";
    const string WriterKey = "writer-secret-2";
    const string AdminKey = "admin-secret-3";
    const string LimitedKey = "limited-secret-4";

    static readonly (string, string)[] Settings =
    [
        ("Purposes:analytics:Basis", "contract"),
        ("Purposes:analytics:Traits:0", "*"),
        ("Purposes:analytics:Segments:0", "*"),
        ("Purposes:marketing:Traits:0", "*"),
        ("ApiKeys:reader:KeyHash", ApiKeyRegistry.HashOf(ReaderKey)),
        ("ApiKeys:reader:Scopes:0", "read"),
        ("ApiKeys:reader:Purposes:0", "analytics"),
        ("ApiKeys:writer:KeyHash", ApiKeyRegistry.HashOf(WriterKey)),
        ("ApiKeys:writer:Scopes:0", "write"),
        ("ApiKeys:admin:KeyHash", ApiKeyRegistry.HashOf(AdminKey)),
        ("ApiKeys:admin:Scopes:0", "admin"),
        ("ApiKeys:admin:Scopes:1", "read"),
        ("ApiKeys:admin:Scopes:2", "write"),
        ("ApiKeys:admin:Purposes:0", "*"),
        ("ApiKeys:limited:KeyHash", ApiKeyRegistry.HashOf(LimitedKey)),
        ("ApiKeys:limited:Scopes:0", "read"),
        ("ApiKeys:limited:Purposes:0", "analytics"),
        ("ApiKeys:limited:RequestsPerSecond", "1"),
        ("ApiKeys:limited:Burst", "2"),
        ("Store:CheckpointIntervalSeconds", "0"),
    ];

    /// <summary>Every route: method, path, body, the scope it needs.</summary>
    static readonly (string Method, string Path, string? Body, AccessScope Scope)[] Routes =
    [
        ("POST", "/v1/identify", """{"userId":"u1","traits":{"name":"changed"}}""", AccessScope.Write),
        ("POST", "/v1/track", """{"userId":"u1","event":"Order Completed"}""", AccessScope.Write),
        ("POST", "/v1/page", """{"userId":"u1","name":"home"}""", AccessScope.Write),
        ("POST", "/v1/screen", """{"userId":"u1","name":"home"}""", AccessScope.Write),
        ("POST", "/v1/alias", """{"userId":"u1","previousId":"a-new"}""", AccessScope.Write),
        ("POST", "/v1/batch", """{"batch":[{"type":"identify","userId":"u1","traits":{"name":"changed"}}]}""", AccessScope.Write),
        ("POST", "/v1/import?format=ndjson", """{"type":"identify","userId":"u1","traits":{"name":"changed"}}""", AccessScope.Write),
        ("GET", "/v1/jobs/none", null, AccessScope.Write),
        ("PUT", "/v1/profiles/user_id/u1/consent", """{"marketing":true}""", AccessScope.Write),
        ("GET", "/v1/profiles/user_id/u1?purpose=analytics", null, AccessScope.Read),
        ("GET", "/v1/profiles/user_id/u1/segments", null, AccessScope.Read),
        ("GET", "/v1/profiles/user_id/u1/segments/de", null, AccessScope.Read),
        ("GET", "/v1/segments", null, AccessScope.Read),
        ("GET", "/v1/segments/de", null, AccessScope.Read),
        ("GET", "/v1/segments/de/members", null, AccessScope.Read),
        ("GET", "/v1/segments/de/export?purpose=analytics", null, AccessScope.Read),
        ("PUT", "/v1/segments/fr", """{"rule":"traits.country = \"FR\""}""", AccessScope.Admin),
        ("DELETE", "/v1/segments/de", null, AccessScope.Admin),
        ("POST", "/v1/profiles/user_id/u1/unmerge", """{"identifiers":{"email":"u1@x.com"}}""", AccessScope.Admin),
        ("GET", "/v1/export", null, AccessScope.Admin),
        ("GET", "/v1/profiles/user_id/u1/export", null, AccessScope.Admin),
        ("DELETE", "/v1/profiles/user_id/u1", null, AccessScope.Admin),
        ("POST", "/v1/admin/checkpoint", "{}", AccessScope.Admin),
        ("POST", "/v1/admin/compact", "{}", AccessScope.Admin),
        ("GET", "/metrics", null, AccessScope.Admin),
    ];

    static HttpRequestMessage Request(string method, string path, string? body, Action<HttpRequestHeaders>? auth)
    {
        var m = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
            m.Content = new StringContent(body, Encoding.UTF8, "application/json");
        auth?.Invoke(m.Headers);
        return m;
    }

    static Action<HttpRequestHeaders> Bearer(string key) => h => h.Authorization = new AuthenticationHeaderValue("Bearer", key);

    static async Task<string> Snapshot(TestServer s)
    {
        using var profile = await s.Http.SendAsync(Request("GET", "/v1/profiles/user_id/u1?purpose=analytics", null, Bearer(AdminKey)));
        using var segments = await s.Http.SendAsync(Request("GET", "/v1/segments", null, Bearer(AdminKey)));
        return await profile.Content.ReadAsStringAsync() + await segments.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task Every_route_refuses_a_missing_or_wrong_key_or_a_key_without_its_scope_and_changes_nothing()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings);
        using (var r = await s.Http.SendAsync(Request("POST", "/v1/identify", """{"userId":"u1","traits":{"name":"Ann","country":"DE","email":"u1@x.com"}}""", Bearer(WriterKey))))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await s.Http.SendAsync(Request("PUT", "/v1/segments/de", """{"rule":"traits.country = \"DE\""}""", Bearer(AdminKey))))
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        await s.Engine.Segments.WaitForBackfillsAsync();
        var before = await Snapshot(s);
        long journalBefore = s.Engine.Journal.TailAddress;

        foreach (var (method, path, body, scope) in Routes)
        {
            var attempts = new List<(string What, Action<HttpRequestHeaders>? Auth, HttpStatusCode Expected)>
            {
                ("no key", null, HttpStatusCode.Unauthorized),
                ("wrong key", Bearer("not-a-key"), HttpStatusCode.Unauthorized),
                ("empty bearer", h => h.TryAddWithoutValidation("Authorization", "Bearer "), HttpStatusCode.Unauthorized),
            };
            foreach (var (name, key, scopes) in new[] { ("reader", ReaderKey, AccessScope.Read), ("writer", WriterKey, AccessScope.Write) })
                if ((scopes & scope) == 0)
                    attempts.Add(($"{name} key", Bearer(key), HttpStatusCode.Forbidden));
            foreach (var (what, auth, expected) in attempts)
            {
                using var r = await s.Http.SendAsync(Request(method, path, body, auth));
                Assert.True(expected == r.StatusCode, $"{method} {path} with {what}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
                var problem = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
                Assert.Equal(expected == HttpStatusCode.Unauthorized ? "unauthenticated" : "forbidden", problem.GetProperty("code").GetString());
            }
        }
        // A reader key may read for its purpose only.
        using (var r = await s.Http.SendAsync(Request("GET", "/v1/profiles/user_id/u1?purpose=marketing", null, Bearer(ReaderKey))))
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        using (var r = await s.Http.SendAsync(Request("GET", "/v1/profiles/user_id/u1?purpose=analytics", null, Bearer(ReaderKey))))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);

        Assert.Equal(before, await Snapshot(s));
        Assert.Equal(journalBefore, s.Engine.Journal.TailAddress);
        using (var health = await s.Http.GetAsync("/health"))
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task A_key_is_accepted_as_bearer_token_api_key_header_or_basic_user_name()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings);
        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes(WriterKey + ":"));
        foreach (var auth in new Action<HttpRequestHeaders>[]
        {
            Bearer(WriterKey),
            h => h.Add("X-Api-Key", WriterKey),
            h => h.Authorization = new AuthenticationHeaderValue("Basic", basic),
        })
        {
            using var r = await s.Http.SendAsync(Request("POST", "/v1/track", """{"userId":"u9","event":"Signed In"}""", auth));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }
        using var bad = await s.Http.SendAsync(Request("POST", "/v1/track", """{"userId":"u9","event":"x"}""", h => h.Authorization = new AuthenticationHeaderValue("Basic", "%%%")));
        Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
    }

    [Fact]
    public async Task A_key_over_its_rate_limit_is_answered_429_with_retry_after()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings);
        var statuses = new List<HttpStatusCode>();
        for (int i = 0; i < 6; i++)
        {
            using var r = await s.Http.SendAsync(Request("GET", "/v1/segments", null, Bearer(LimitedKey)));
            statuses.Add(r.StatusCode);
            if (r.StatusCode == HttpStatusCode.TooManyRequests)
                Assert.Equal("1", r.Headers.GetValues("Retry-After").Single());
        }
        Assert.Equal(HttpStatusCode.OK, statuses[0]);
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        // Another key is not slowed down by it.
        using var other = await s.Http.SendAsync(Request("GET", "/v1/segments", null, Bearer(ReaderKey)));
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    [Fact]
    public async Task Bad_key_configuration_stops_the_start_naming_the_setting()
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(null, null, ("ApiKeys:x:KeyHash", "abc"), ("ApiKeys:x:Scopes:0", "read")));
        Assert.Contains("ApiKeys:x:KeyHash", e.Message);
        e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(null, null, ("ApiKeys:x:KeyHash", ApiKeyRegistry.HashOf("k")), ("ApiKeys:x:Scopes:0", "superuser")));
        Assert.Contains("superuser", e.Message);
    }

    /// <summary>The binary protocol: Auth after Hello or nothing; every operation checks the key's scope and purpose.</summary>
    [Fact]
    public async Task Binary_requests_need_the_auth_frame_and_a_key_with_the_scope_and_purpose()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings);
        await using (var admin = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort, ApiKey = AdminKey }))
            await admin.IdentifyAsync(new IdentifyRequest { Identifiers = new Dictionary<string, string> { ["user_id"] = "b1" }, Traits = new Dictionary<string, object?> { ["name"] = "Bo" } });
        long journal = s.Engine.Journal.TailAddress;

        // No key: the first request after Hello is refused and the connection closed.
        await using (var none = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort }))
        {
            var e = await Assert.ThrowsAsync<CdpException>(() => none.TrackAsync(new TrackRequest { Event = "x", Identifiers = new Dictionary<string, string> { ["user_id"] = "b1" } }));
            Assert.Equal(Status.Unauthorized, e.Status);
        }
        // A wrong key fails the connect.
        var wrong = await Assert.ThrowsAsync<CdpException>(() => CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort, ApiKey = "nope" }));
        Assert.Equal(Status.Unauthorized, wrong.Status);

        await using (var reader = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort, ApiKey = ReaderKey }))
        {
            Assert.Equal(Status.Forbidden, (await Assert.ThrowsAsync<CdpException>(() => reader.TrackAsync(new TrackRequest { Event = "x", Identifiers = new Dictionary<string, string> { ["user_id"] = "b1" } }))).Status);
            Assert.Equal(Status.Forbidden, (await Assert.ThrowsAsync<CdpException>(() => reader.GetProfileAsync("user_id", "b1", "marketing"))).Status);
            Assert.Equal("Bo", (await reader.GetProfileAsync("user_id", "b1", "analytics"))!.Traits["name"]);
        }
        await using (var writer = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort, ApiKey = WriterKey }))
        {
            Assert.Equal(Status.Forbidden, (await Assert.ThrowsAsync<CdpException>(() => writer.GetProfileAsync("user_id", "b1", "analytics"))).Status);
            // Subscriptions read: a write-only key may not watch segments.
            Assert.Equal(Status.Forbidden, (await Assert.ThrowsAsync<CdpException>(() => writer.SubscribeAsync(["de"]))).Status);
            Assert.False(s.Engine.SegmentFeed.HasSubscribers);
            // Erasure is administration.
            Assert.Equal(Status.Forbidden, (await Assert.ThrowsAsync<CdpException>(() => writer.EraseAsync("user_id", "b1"))).Status);
        }
        await using (var reader = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort, ApiKey = ReaderKey }))
            Assert.Equal(Status.Forbidden, (await Assert.ThrowsAsync<CdpException>(() => reader.EraseAsync("user_id", "b1"))).Status);
        await using (var reader = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort, ApiKey = ReaderKey }))
        await using (var subscription = await reader.SubscribeAsync(["de"]))
            Assert.Equal(["de"], subscription.Segments);
        Assert.Equal(journal, s.Engine.Journal.TailAddress);

        await using var limited = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort, ApiKey = LimitedKey });
        var statuses = new List<Status>();
        for (int i = 0; i < 6; i++)
        {
            try
            {
                await limited.GetProfileAsync("user_id", "b1", "analytics");
                statuses.Add(Status.Ok);
            }
            catch (CdpException e)
            {
                statuses.Add(e.Status);
            }
        }
        Assert.Contains(Status.RateLimited, statuses);
    }

    /// <summary>Without keys anyone who can connect could do anything: the server listens on loopback only, whatever BindAddress says.</summary>
    [Fact]
    public async Task Without_keys_the_listeners_bind_to_loopback_only()
    {
        await using (var open = await TestServer.StartAsync(null, null, ("BindAddress", "0.0.0.0")))
        {
            Assert.True(IPAddress.IsLoopback(open.BoundAddresses.Http));
            Assert.True(IPAddress.IsLoopback(open.BoundAddresses.Binary));
        }
        await using var keyed = await TestServer.StartAsync(null, null, ("BindAddress", "0.0.0.0"), ("ApiKeys:k:KeyHash", ApiKeyRegistry.HashOf("k")), ("ApiKeys:k:Scopes:0", "read"));
        Assert.Equal(IPAddress.Any, keyed.BoundAddresses.Http);
        Assert.Equal(IPAddress.Any, keyed.BoundAddresses.Binary);
    }

    /// <summary>Every binary operation before Auth is refused, and the connection is closed after the refusal.</summary>
    [Theory]
    [InlineData(Opcode.Ping)]
    [InlineData(Opcode.Identify)]
    [InlineData(Opcode.Track)]
    [InlineData(Opcode.GetProfile)]
    [InlineData(Opcode.Subscribe)]
    [InlineData(Opcode.Unsubscribe)]
    [InlineData(Opcode.Erase)]
    public async Task Every_binary_operation_before_auth_is_refused_and_the_connection_closed(Opcode opcode)
    {
        await using var s = await TestServer.StartAsync(null, null, Settings);
        long journal = s.Engine.Journal.TailAddress;
        using var raw = await RawConnection.ConnectAsync(s.BinaryPort);
        var body = opcode switch
        {
            Opcode.Identify => RawConnection.Body((ref MessagePack.MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("identifiers"); w.WriteMapHeader(1); w.Write("user_id"); w.Write("x"); }),
            Opcode.Track => RawConnection.Body((ref MessagePack.MessagePackWriter w) => { w.WriteMapHeader(2); w.Write("identifiers"); w.WriteMapHeader(1); w.Write("user_id"); w.Write("x"); w.Write("event"); w.Write("e"); }),
            Opcode.GetProfile or Opcode.Erase => RawConnection.Body((ref MessagePack.MessagePackWriter w) => { w.WriteMapHeader(2); w.Write("type"); w.Write("user_id"); w.Write("value"); w.Write("x"); }),
            Opcode.Subscribe or Opcode.Unsubscribe => RawConnection.Body((ref MessagePack.MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("segments"); w.WriteArrayHeader(1); w.Write("de"); }),
            _ => [],
        };
        var (status, reply, _) = await raw.RequestAsync(opcode, body);
        Assert.Equal(Status.Unauthorized, status);
        Assert.Equal("unauthenticated", RawConnection.Error(reply).Code);
        Assert.Null(await raw.ReadFrameAsync());
        Assert.Equal(journal, s.Engine.Journal.TailAddress);
        Assert.False(s.Engine.SegmentFeed.HasSubscribers);
    }
}
