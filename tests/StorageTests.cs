using System.Net;
using System.Text;
using System.Text.Json;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// The store under pressure and across restarts, through the real server: profiles that spilled out
/// of memory read back the same; graceful restarts recover from the checkpoint; journal replay and
/// checkpoints together never lose or double-apply a write.
/// </summary>
public sealed class StorageTests
{
    static readonly (string, string)[] TinyMemory =
    [
        ("Store:PageBytes", "16384"),
        ("Store:MemoryBytes", "65536"),
        ("Store:MaxProfileBytes", "4096"),
        ("Store:IndexBytes", "65536"),
        ("Store:CheckpointIntervalSeconds", "0"),
    ];

    [Fact]
    public async Task Profiles_read_the_same_after_the_log_spilled_to_disk()
    {
        await using var server = await TestServer.StartAsync(settings: TinyMemory);
        const int Count = 400;
        var expected = new Dictionary<int, string>();
        for (int i = 0; i < Count; i++)
        {
            var response = await Post(server, "/v1/identify", $$$"""{"userId":"spill-{{{i}}}","traits":{"email":"spill{{{i}}}@x.com","n":{{{i}}},"pad":"{{{new string('p', 200)}}}"}}""");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        // Read everything once while hot, to compare with the answers after eviction.
        for (int i = 0; i < Count; i++)
            expected[i] = await server.Http.GetStringAsync($"/v1/profiles/user_id/spill-{i}");

        var log = server.Engine.Store.Kv.Log;
        Assert.True(log.HeadAddress > log.BeginAddress, $"the log should have spilled (head {log.HeadAddress}, begin {log.BeginAddress})");

        // Update every profile too: read-modify-write of records that live on disk goes pending.
        for (int i = 0; i < Count; i += 7)
            Assert.Equal(HttpStatusCode.OK, (await Post(server, "/v1/track", $$"""{"userId":"spill-{{i}}","event":"Visit"}""")).StatusCode);

        for (int i = 0; i < Count; i++)
        {
            var json = await server.Http.GetStringAsync($"/v1/profiles/email/SPILL{i}@x.com");
            if (i % 7 == 0)
            {
                using var doc = JsonDocument.Parse(json);
                Assert.Equal(1, doc.RootElement.GetProperty("events").GetProperty("Visit").GetProperty("count").GetInt32());
                Assert.Equal(i, doc.RootElement.GetProperty("traits").GetProperty("n").GetInt32());
            }
            else
                Assert.Equal(expected[i], json);
        }
    }

    [Fact]
    public async Task Graceful_restart_recovers_the_checkpoint_and_replays_nothing()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            string before;
            await using (var server = await TestServer.StartAsync(dir))
            {
                await Post(server, "/v1/identify", """{"userId":"r1","traits":{"plan":"pro","email":"r1@x.com"}}""");
                await Post(server, "/v1/track", """{"userId":"r1","event":"Login","timestamp":"2026-01-02T03:04:05.678Z"}""");
                before = await server.Http.GetStringAsync("/v1/profiles/user_id/r1");
            }
            await using (var server = await TestServer.StartAsync(dir))
            {
                Assert.Equal(0, server.Engine.ReplayedEntries);
                Assert.Equal(before, await server.Http.GetStringAsync("/v1/profiles/email/r1@x.com"));
                // Ids keep growing after a restart: a new profile never reuses an old id.
                var created = await Post(server, "/v1/identify", """{"userId":"r2"}""");
                using var doc = JsonDocument.Parse(await created.Content.ReadAsStringAsync());
                Assert.Equal("2", doc.RootElement.GetProperty("id").GetString());
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task Writes_after_a_checkpoint_are_replayed_once_and_counters_do_not_double()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            string expected;
            await using (var server = await TestServer.StartAsync(dir, ("Store:CheckpointIntervalSeconds", "0")))
            {
                for (int i = 0; i < 5; i++)
                    await Post(server, "/v1/track", $$"""{"userId":"c1","event":"Click","messageId":"before-{{i}}"}""");
                Assert.NotNull(await server.Engine.CheckpointAsync());
                for (int i = 0; i < 3; i++)
                    await Post(server, "/v1/track", $$"""{"userId":"c1","event":"Click","messageId":"after-{{i}}"}""");
                expected = await server.Http.GetStringAsync("/v1/profiles/user_id/c1");
                // Simulate a crash: copy the data folder while the server is live (everything acknowledged is
                // in the journal), then let the server shut down; recover the copy.
                server.Engine.Journal.CommitNow();
                TestServer.CopyDataDirWhileLive(dir, dir + "-crash");
            }
            await using (var server = await TestServer.StartAsync(dir + "-crash"))
            {
                Assert.Equal(3, server.Engine.ReplayedEntries);
                var json = await server.Http.GetStringAsync("/v1/profiles/user_id/c1");
                using var doc = JsonDocument.Parse(json);
                Assert.Equal(8, doc.RootElement.GetProperty("events").GetProperty("Click").GetProperty("count").GetInt32());
                Assert.Equal(expected, json);
                // A replayed messageId is still known: sending it again is a duplicate.
                var again = await Post(server, "/v1/track", """{"userId":"c1","event":"Click","messageId":"after-1"}""");
                using var result = JsonDocument.Parse(await again.Content.ReadAsStringAsync());
                Assert.True(result.RootElement.GetProperty("duplicate").GetBoolean());
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
            TestServer.TryDelete(dir + "-crash");
        }
    }

    [Fact]
    public async Task Log_only_checkpoints_recover_with_the_last_index_checkpoint()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            var expected = new Dictionary<string, string>();
            await using (var server = await TestServer.StartAsync(dir, ("Store:CheckpointIntervalSeconds", "0")))
            {
                for (int round = 0; round < 4; round++)
                {
                    for (int i = 0; i < 50; i++)
                        await Post(server, "/v1/track", $$$"""{"userId":"lc-{{{i}}}","event":"Round {{{round}}}","properties":{"i":{{{i}}}}}""");
                    var metadata = await server.Engine.CheckpointAsync();
                    Assert.NotNull(metadata);
                    // The first checkpoint writes the index too; the next ones only the log, each
                    // under its own token, recovered with the first one's index.
                    Assert.Equal(round, metadata.LogCheckpointsSinceIndex);
                    Assert.Equal(round == 0, metadata.IndexToken == metadata.LogToken);
                }
                for (int i = 0; i < 50; i++)
                    expected[$"lc-{i}"] = await server.Http.GetStringAsync($"/v1/profiles/user_id/lc-{i}");
                server.Engine.Journal.CommitNow();
                TestServer.CopyDataDirWhileLive(dir, dir + "-crash");
            }
            await using (var server = await TestServer.StartAsync(dir + "-crash"))
            {
                Assert.Equal(0, server.Engine.ReplayedEntries);
                foreach (var (user, json) in expected)
                    Assert.Equal(json, await server.Http.GetStringAsync($"/v1/profiles/user_id/{user}"));
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
            TestServer.TryDelete(dir + "-crash");
        }
    }

    [Fact]
    public async Task A_corrupt_checkpoint_stops_the_server_instead_of_starting_empty()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await using (var server = await TestServer.StartAsync(dir))
                await Post(server, "/v1/identify", """{"userId":"x1"}""");
            File.WriteAllText(Path.Combine(dir, "checkpoints", "cdp-checkpoint.json"), "{ not json");
            var error = await Assert.ThrowsAsync<InvalidDataException>(() => TestServer.StartAsync(dir));
            Assert.Contains("cdp-checkpoint.json", error.Message);

            // Metadata that names a checkpoint whose files are gone is just as fatal.
            File.WriteAllText(Path.Combine(dir, "checkpoints", "cdp-checkpoint.json"),
                $$"""{"IndexToken":"{{Guid.NewGuid()}}","LogToken":"{{Guid.NewGuid()}}","JournalAddress":64,"NextMasterId":2,"NextSeq":2,"LogCheckpointsSinceIndex":0,"TakenAt":"2026-01-01T00:00:00Z"}""");
            var missing = await Assert.ThrowsAsync<InvalidDataException>(() => TestServer.StartAsync(dir));
            Assert.Contains("cannot be recovered", missing.Message);
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task Lost_checkpoint_metadata_with_a_truncated_journal_refuses_to_start()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            (string, string) noHistory = ("Journal:KeepHistory", "false");
            await using (var server = await TestServer.StartAsync(dir, noHistory))
                await Post(server, "/v1/identify", """{"userId":"kept"}""");
            // The graceful stop took a checkpoint and truncated the journal behind it.
            File.Delete(Path.Combine(dir, "checkpoints", "cdp-checkpoint.json"));
            var error = await Assert.ThrowsAsync<InvalidDataException>(() => TestServer.StartAsync(dir, noHistory));
            Assert.Contains("is missing", error.Message);
            // Nothing was deleted: the checkpoint is still there to be restored.
            Assert.NotEmpty(Directory.EnumerateDirectories(Path.Combine(dir, "checkpoints", "cpr-checkpoints")));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task Lost_checkpoint_metadata_with_the_history_kept_replays_the_whole_journal()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await using (var server = await TestServer.StartAsync(dir))
            {
                await Post(server, "/v1/identify", """{"userId":"kept","traits":{"plan":"pro"}}""");
                await Post(server, "/v1/track", """{"userId":"kept","event":"Buy"}""");
            }
            // The journal was not truncated behind the checkpoint (Journal:KeepHistory): it alone
            // rebuilds everything.
            File.Delete(Path.Combine(dir, "checkpoints", "cdp-checkpoint.json"));
            await using var again = await TestServer.StartAsync(dir);
            Assert.Equal(2, again.Engine.ReplayedEntries);
            using var profile = JsonDocument.Parse(await again.Http.GetStringAsync("/v1/profiles/user_id/kept"));
            Assert.Equal("pro", profile.RootElement.GetProperty("traits").GetProperty("plan").GetString());
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task Idempotent_writes_apply_once()
    {
        await using var server = await TestServer.StartAsync();
        var first = await Post(server, "/v1/track", """{"userId":"i1","event":"Buy","messageId":"m-42"}""");
        var second = await Post(server, "/v1/track", """{"userId":"i1","event":"Buy","messageId":"m-42"}""");
        using var a = JsonDocument.Parse(await first.Content.ReadAsStringAsync());
        using var b = JsonDocument.Parse(await second.Content.ReadAsStringAsync());
        Assert.False(a.RootElement.GetProperty("duplicate").GetBoolean());
        Assert.True(b.RootElement.GetProperty("duplicate").GetBoolean());
        Assert.Equal(a.RootElement.GetProperty("id").GetString(), b.RootElement.GetProperty("id").GetString());
        using var profile = JsonDocument.Parse(await server.Http.GetStringAsync("/v1/profiles/user_id/i1"));
        Assert.Equal(1, profile.RootElement.GetProperty("events").GetProperty("Buy").GetProperty("count").GetInt32());
    }

    [Fact]
    public async Task A_write_that_would_pass_the_profile_limit_is_refused_whole()
    {
        await using var server = await TestServer.StartAsync(settings: TinyMemory);
        await Post(server, "/v1/identify", """{"userId":"big","traits":{"plan":"pro"}}""");
        var before = await server.Http.GetStringAsync("/v1/profiles/user_id/big");
        var traits = string.Join(",", Enumerable.Range(0, 40).Select(i => $"\"t{i}\":\"{new string('v', 100)}\""));
        var response = await Post(server, "/v1/identify", "{\"userId\":\"big\",\"traits\":{" + traits + "}}");
        Assert.Equal((HttpStatusCode)422, response.StatusCode);
        Assert.Contains("profile_too_large", await response.Content.ReadAsStringAsync());
        Assert.Equal(before, await server.Http.GetStringAsync("/v1/profiles/user_id/big"));
    }

    static async Task<HttpResponseMessage> Post(TestServer server, string path, string json)
    {
        var response = await server.Http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        if (response.StatusCode == HttpStatusCode.InternalServerError)
            Assert.Fail(await response.Content.ReadAsStringAsync());
        return response;
    }
}
