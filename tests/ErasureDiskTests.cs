using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Cdp.Client;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Erasure leaves no readable trace on disk: a person written over both transports, merged from two
/// profiles, updated across several checkpoints, then erased, checkpointed and compacted; every file
/// under the data folder is scanned for their e-mail, name, user id and an event property, as UTF-8
/// and UTF-16 bytes. None is found, while the same scan finds them before the erasure and finds the
/// person kept beside them. After a restart the person is found by no identifier and re-creating
/// them starts a fresh profile.
/// </summary>
public sealed class ErasureDiskTests
{
    const string Email = "thordis.quinceworth@erasure-test.example";
    const string Name = "Þórdís Quinceworth";
    const string UserId = "qw-user-77";
    const string Anonymous = "anon-qw-3";
    const string Street = "Quinceworth Manor Lane";
    const string KeptName = "Keepable Mortimer";

    static readonly string[] Secrets = [Email, Name, "Quinceworth", UserId, Anonymous, Street];

    static (string, string)[] Settings(bool evicted)
    {
        var settings = new List<(string, string)>
        {
            ("Traits:Declared:name", "string"),
            ("Store:CheckpointIntervalSeconds", "0"),
            ("Store:CompactAfterErasureSeconds", "-1"),
        };
        if (evicted)
        {
            // A log memory of four small pages: the person's records and their old versions go to the
            // log files on disk, not only into checkpoint snapshots.
            settings.Add(("Store:PageBytes", "131072"));
            settings.Add(("Store:MemoryBytes", "524288"));
            settings.Add(("Store:SegmentBytes", "1048576"));
            settings.Add(("Store:MaxProfileBytes", "32768"));
        }
        return settings.ToArray();
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task After_erasure_checkpoint_and_compaction_no_file_holds_the_person(bool evicted, bool eraseOverBinary)
    {
        var dir = TestServer.NewDataDir();
        try
        {
            var erasedIds = new List<string>();
            await using (var s = await TestServer.StartAsync(null, dir, Settings(evicted)))
            {
                // Every filler write waits for a commit (and a key flush): generous on a loaded CI machine.
                await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort, RequestTimeout = TimeSpan.FromSeconds(60) });
                await Post(s, "/v1/track", new { anonymousId = Anonymous, @event = "Page Viewed", properties = new { street = Street } });
                await Post(s, "/v1/identify", new { userId = UserId, traits = new { name = "Thordis Q.", email = Email } });
                await Post(s, "/v1/admin/checkpoint", new { });
                // Superseded versions: the name changes, over the binary protocol too.
                await client.IdentifyAsync(new IdentifyRequest
                {
                    Identifiers = new Dictionary<string, string> { ["user_id"] = UserId },
                    Traits = new Dictionary<string, object?> { ["name"] = Name, ["street"] = Street },
                });
                using (var r = await s.Http.PutAsJsonAsync($"/v1/profiles/email/{Email}/consent", new { marketing = true }))
                    Assert.True(r.StatusCode is HttpStatusCode.OK or HttpStatusCode.BadRequest, $"consent: {r.StatusCode}");
                // The anonymous profile merges in through the shared e-mail.
                await Post(s, "/v1/identify", new { anonymousId = Anonymous, traits = new { email = Email } });
                await Post(s, "/v1/identify", new { userId = "kept-1", traits = new { name = KeptName } });
                for (int i = 0; i < (evicted ? 600 : 50); i++)
                    await client.IdentifyAsync(new IdentifyRequest
                    {
                        Identifiers = new Dictionary<string, string> { ["user_id"] = $"filler-{i}" },
                        Traits = new Dictionary<string, object?> { ["n"] = i, ["pad"] = new string('x', 1500) },
                    });
                await client.TrackAsync(new TrackRequest { Identifiers = new Dictionary<string, string> { ["email"] = Email }, Event = "Ordered", Properties = new Dictionary<string, object?> { ["to"] = Street } });
                await Post(s, "/v1/admin/checkpoint", new { });
                using (var p = await s.Http.GetAsync($"/v1/profiles/email/{Email}"))
                {
                    var profile = await p.Content.ReadFromJsonAsync<JsonElement>();
                    Assert.Equal(Name, profile.GetProperty("traits").GetProperty("name").GetString());
                    erasedIds.Add(profile.GetProperty("id").GetString()!);
                }
                // The scan finds the person while they are held: it is able to see what it looks for.
                var held = FilesHolding(dir, Secrets);
                Assert.NotEmpty(held);
                if (evicted)
                    Assert.Contains(held, f => f.StartsWith("store", StringComparison.Ordinal));

                if (eraseOverBinary)
                {
                    var erased = await client.EraseAsync("email", Email);
                    Assert.NotNull(erased);
                    Assert.Equal(erasedIds[0], erased.Value.ErasedId);
                    Assert.Equal(1, erased.Value.Fragments);
                    Assert.Null(await client.EraseAsync("email", Email));
                }
                else
                {
                    using var erase = await s.Http.DeleteAsync($"/v1/profiles/email/{Email}");
                    Assert.Equal(HttpStatusCode.OK, erase.StatusCode);
                    var body = await erase.Content.ReadFromJsonAsync<JsonElement>();
                    Assert.Equal(erasedIds[0], body.GetProperty("erased").GetString());
                    Assert.True(body.GetProperty("compactionPending").GetBoolean());
                }
                await Post(s, "/v1/admin/checkpoint", new { });
                using (var compact = await s.Http.PostAsync("/v1/admin/compact", null))
                {
                    Assert.Equal(HttpStatusCode.OK, compact.StatusCode);
                    var body = await compact.Content.ReadFromJsonAsync<JsonElement>();
                    Assert.Equal(1, body.GetProperty("generation").GetInt32());
                    Assert.Equal(1, body.GetProperty("erasures").GetInt64());
                }
                Assert.Empty(FilesHolding(dir, Secrets));
                Assert.Equal(0, s.Engine.ErasuresSinceCompaction);
                // Still serving, from the compacted store: the kept person and the fillers are there.
                Assert.Equal(HttpStatusCode.OK, await StatusOf(s, "/v1/profiles/user_id/kept-1"));
                Assert.Equal(HttpStatusCode.OK, await StatusOf(s, "/v1/profiles/user_id/filler-7"));
                Assert.Null(await client.GetProfileAsync("email", Email));
            }

            // Stopped (final checkpoint): still nothing of the person, and the kept person is on disk.
            Assert.Empty(FilesHolding(dir, Secrets));
            Assert.NotEmpty(FilesHolding(dir, [KeptName]));
            Assert.False(Directory.Exists(Path.Combine(dir, "store")));
            Assert.False(Directory.Exists(Path.Combine(dir, "checkpoints")));

            await using (var s = await TestServer.StartAsync(null, dir, Settings(evicted)))
            {
                foreach (var path in new[] { $"/v1/profiles/email/{Email}", $"/v1/profiles/user_id/{UserId}", $"/v1/profiles/anonymous_id/{Anonymous}", $"/v1/profiles/id/{erasedIds[0]}" })
                    Assert.Equal(HttpStatusCode.NotFound, await StatusOf(s, path));
                Assert.Equal(HttpStatusCode.OK, await StatusOf(s, "/v1/profiles/user_id/kept-1"));
                using var r = await s.Http.PostAsJsonAsync("/v1/identify", new { userId = UserId, traits = new { email = Email } });
                var write = await r.Content.ReadFromJsonAsync<JsonElement>();
                Assert.True(write.GetProperty("created").GetBoolean());
                Assert.True(ulong.Parse(write.GetProperty("id").GetString()!) > ulong.Parse(erasedIds[0]));
                using var fresh = await s.Http.GetAsync($"/v1/profiles/email/{Email}");
                var profile = await fresh.Content.ReadFromJsonAsync<JsonElement>();
                Assert.False(profile.GetProperty("traits").TryGetProperty("name", out _));
                Assert.False(profile.GetProperty("identifiers").TryGetProperty("anonymous_id", out _));
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task A_compaction_under_concurrent_writes_and_reads_loses_nothing()
    {
        await using var s = await TestServer.StartAsync(null, null, Settings(false));
        await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort });
        using var stop = new CancellationTokenSource();
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<int>();
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            for (int i = w; !stop.IsCancellationRequested; i += 4)
            {
                await client.IdentifyAsync(new IdentifyRequest
                {
                    Identifiers = new Dictionary<string, string> { ["user_id"] = $"c-{i}" },
                    Traits = new Dictionary<string, object?> { ["n"] = i },
                });
                acknowledged.Add(i);
                var read = await client.GetProfileAsync("user_id", $"c-{i}");
                Assert.NotNull(read);
            }
        })).ToList();
        for (int round = 1; round <= 3; round++)
        {
            while (acknowledged.Count < round * 200)
                await Task.Yield();
            var result = await s.Engine.CompactAsync();
            Assert.Equal(round, result!.Generation);
        }
        stop.Cancel();
        await Task.WhenAll(writers);
        foreach (var i in acknowledged)
        {
            var profile = await client.GetProfileAsync("user_id", $"c-{i}");
            Assert.NotNull(profile);
        }
        Assert.Single(Directory.GetDirectories(s.DataDir, "store*"));
        Assert.Single(Directory.GetDirectories(s.DataDir, "checkpoints*"));
    }

    static async Task Post(TestServer s, string path, object body)
    {
        using var r = await s.Http.PostAsJsonAsync(path, body);
        Assert.True(r.StatusCode == HttpStatusCode.OK, $"{path}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
    }

    static async Task<HttpStatusCode> StatusOf(TestServer s, string path)
    {
        using var r = await s.Http.GetAsync(path);
        return r.StatusCode;
    }

    /// <summary>Files under <paramref name="dir"/> holding any of <paramref name="needles"/> as UTF-8 or UTF-16 bytes, with what they hold.</summary>
    static List<string> FilesHolding(string dir, string[] needles)
    {
        var patterns = needles.SelectMany(n => new[] { Encoding.UTF8.GetBytes(n), Encoding.Unicode.GetBytes(n), Encoding.UTF8.GetBytes(n.ToLowerInvariant()) }).ToList();
        var found = new List<string>();
        foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            // The running server holds LOCK exclusively; it is never written to.
            if (Path.GetFileName(file) == "LOCK")
            {
                Assert.Equal(0, new FileInfo(file).Length);
                continue;
            }
            byte[] bytes;
            try
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                bytes = new byte[stream.Length];
                stream.ReadExactly(bytes);
            }
            catch (FileNotFoundException)
            {
                continue;
            }
            foreach (var pattern in patterns)
                if (bytes.AsSpan().IndexOf(pattern) >= 0)
                {
                    found.Add($"{Path.GetRelativePath(dir, file)}: {Encoding.UTF8.GetString(pattern)}");
                    break;
                }
        }
        return found;
    }
}
