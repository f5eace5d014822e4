using System.Diagnostics;
using Cdp.Protocol;
using Cdp.Tests.Infrastructure;
using MessagePack;
using Xunit;
using static Cdp.Tests.Infrastructure.RawConnection;

namespace Cdp.Tests;

/// <summary>Start-up and shutdown behaviour operators rely on.</summary>
public sealed class LifecycleTests
{
    [Fact]
    public async Task A_second_server_on_the_same_data_folder_refuses_to_start()
    {
        await using var first = await TestServer.StartAsync();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => TestServer.StartAsync(first.DataDir));
        Assert.Contains("in use by another Cdp server", error.Message);
        // The first one is unaffected.
        Assert.Equal(System.Net.HttpStatusCode.OK, (await first.Http.GetAsync("/health")).StatusCode);
    }

    [Fact]
    public async Task Shutdown_closes_open_binary_connections_instead_of_waiting_for_them()
    {
        var server = await TestServer.StartAsync();
        using var connection = await ConnectAsync(server.BinaryPort);
        Assert.Equal(Status.Ok, (await connection.RequestAsync(Opcode.Ping, [])).Status);
        var watch = Stopwatch.StartNew();
        await server.DisposeAsync();
        // Kestrel's own grace period is 30 s; a handler that ignored shutdown would hold it that long.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"shutdown took {watch.Elapsed}");
        Assert.Null(await connection.ReadFrameAsync());
    }

    [Fact]
    public async Task Bad_configuration_stops_start_up_with_the_setting_named()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => TestServer.StartAsync(settings: ("Store:MemoryBytes", "1000")));
        Assert.Contains("Store:MemoryBytes", error.Message);
        // A frame limit the journal could not hold would let accepted writes fail after being applied.
        var journal = await Assert.ThrowsAsync<InvalidOperationException>(() => TestServer.StartAsync(settings: ("MaxFrameBodyBytes", (8 << 20).ToString())));
        Assert.Contains("Journal:PageBytes", journal.Message);
    }

    [Fact]
    public async Task Master_id_reads_and_unknown_types_are_answered_consistently_on_both_transports()
    {
        await using var server = await TestServer.StartAsync();
        using var connection = await ConnectAsync(server.BinaryPort);
        var identify = Body((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("identifiers"); w.WriteMapHeader(1); w.Write("phone"); w.Write("030 1234567"); });
        Assert.Equal(Status.Ok, (await connection.RequestAsync(Opcode.Identify, identify)).Status);

        // The phone was stored in E.164 with the default country code; any spelling finds it.
        var byPhone = Body((ref MessagePackWriter w) => { w.WriteMapHeader(2); w.Write("type"); w.Write("phone"); w.Write("value"); w.Write("+49 (30) 123-4567"); });
        Assert.Equal(Status.Ok, (await connection.RequestAsync(Opcode.GetProfile, byPhone)).Status);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await server.Http.GetAsync("/v1/profiles/phone/0049301234567")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await server.Http.GetAsync("/v1/profiles/id/1")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await server.Http.GetAsync("/v1/profiles/id/2")).StatusCode);

        var unknown = Body((ref MessagePackWriter w) => { w.WriteMapHeader(2); w.Write("type"); w.Write("shoe"); w.Write("value"); w.Write("42"); });
        var (status, body, _) = await connection.RequestAsync(Opcode.GetProfile, unknown);
        Assert.Equal(Status.BadRequest, status);
        Assert.Equal(ErrorCode.UnknownIdentifierType, Error(body).Code);
        var http = await server.Http.GetAsync("/v1/profiles/shoe/42");
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, http.StatusCode);
        Assert.Contains(ErrorCode.UnknownIdentifierType, await http.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Metrics_expose_store_and_journal_figures_in_prometheus_text()
    {
        await using var server = await TestServer.StartAsync();
        await server.Http.PostAsync("/v1/identify", new StringContent("""{"userId":"m1","traits":{"plan":"pro"}}""", System.Text.Encoding.UTF8, "application/json"));
        var response = await server.Http.GetAsync("/metrics");
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n');
        long Value(string name) => long.Parse(lines.Single(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Split(' ')[1]);
        Assert.Equal(1, Value("cdp_profiles_created"));
        Assert.True(Value("cdp_store_log_bytes") > 0);
        Assert.True(Value("cdp_journal_committed_address") > Value("cdp_store_log_begin_address") - 1);
        Assert.Equal(0, Value("cdp_journal_failed"));
        Assert.Contains(lines, l => l == "# TYPE cdp_process_resident_bytes gauge");
    }
}
