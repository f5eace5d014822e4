using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Server.Engine;
using Cdp.Server.Hosting;
using Cdp.Server.Journal;
using Cdp.Server.Profiles;
using Cdp.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// A write whose identifiers belong to two profiles merges them: the oldest survives with everything
/// of both, the other's identifiers and master id lead to it, nothing is counted twice, and the
/// journal replays the merge to the same bytes.
/// </summary>
public sealed class IdentityMergeTests
{
    static readonly (string, string)[] Settings =
    [
        ("ComputedTraits:orders:Function", "count"),
        ("ComputedTraits:orders:Event", "Order Completed"),
        ("ComputedTraits:orders_7d:Function", "count"),
        ("ComputedTraits:orders_7d:Event", "Order Completed"),
        ("ComputedTraits:orders_7d:Window", "7d"),
    ];

    static async Task<JsonElement> Post(TestServer s, string path, object body)
    {
        using var r = await s.Http.PostAsJsonAsync(path, body);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        return await r.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task A_write_linking_two_profiles_merges_them_into_the_oldest_without_losing_or_doubling_anything()
    {
        var clock = new ManualClock(DateTimeOffset.Parse("2026-06-01T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        await using var s = await TestServer.StartAsync(clock, null, Settings);
        var first = await Post(s, "/v1/identify", new { traits = new { email = "ann@x.com", plan = "free", city = "Ulm" }, timestamp = "2026-06-01T09:00:00Z", source = "crm" });
        for (int i = 0; i < 2; i++)
            await Post(s, "/v1/track", new { @event = "Order Completed", context = new { traits = new { email = "ann@x.com" } } });
        clock.Advance(TimeSpan.FromHours(1));
        var second = await Post(s, "/v1/identify", new { userId = "u1", traits = new { plan = "pro" }, timestamp = "2026-06-01T10:30:00Z", source = "app" });
        await Post(s, "/v1/track", new { @event = "Order Completed", userId = "u1" });
        string a = first.GetProperty("id").GetString()!, b = second.GetProperty("id").GetString()!;
        Assert.NotEqual(a, b);

        // One track names both: the older profile takes the other in.
        var merged = await Post(s, "/v1/track", new { @event = "Order Completed", userId = "u1", context = new { traits = new { email = "ann@x.com" } } });
        Assert.Equal(a, merged.GetProperty("id").GetString());

        foreach (var path in new[] { "email/ann@x.com", "user_id/u1", $"id/{a}", $"id/{b}" })
        {
            var p = await s.Http.GetFromJsonAsync<JsonElement>("/v1/profiles/" + path + "?provenance=true");
            Assert.Equal(a, p.GetProperty("id").GetString());
            Assert.Equal("ann@x.com", p.GetProperty("identifiers").GetProperty("email")[0].GetString());
            Assert.Equal("u1", p.GetProperty("identifiers").GetProperty("user_id")[0].GetString());
            var traits = p.GetProperty("traits");
            Assert.Equal("pro", traits.GetProperty("plan").GetProperty("value").GetString());   // the later statement
            Assert.Equal("app", traits.GetProperty("plan").GetProperty("source").GetString());
            Assert.Equal("Ulm", traits.GetProperty("city").GetProperty("value").GetString());
            Assert.Equal(4, p.GetProperty("events").GetProperty("Order Completed").GetProperty("count").GetInt64());
            Assert.Equal(4, p.GetProperty("computed").GetProperty("orders").GetInt64());
            Assert.Equal(4, p.GetProperty("computed").GetProperty("orders_7d").GetInt64());
        }
        // Exports list the survivor once; later writes by either identifier land on it.
        var lines = (await s.Http.GetStringAsync("/v1/export")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        await Post(s, "/v1/track", new { @event = "Order Completed", userId = "u1" });
        Assert.Equal(5, (await s.Http.GetFromJsonAsync<JsonElement>("/v1/profiles/email/ann@x.com")).GetProperty("computed").GetProperty("orders").GetInt64());
    }

    [Fact]
    public async Task Three_profiles_merge_in_one_write_and_the_merge_survives_a_restart()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await using (var s = await TestServer.StartAsync(dir, Settings))
            {
                await Post(s, "/v1/identify", new { userId = "a", traits = new { x = 1 } });
                await Post(s, "/v1/identify", new { anonymousId = "b", traits = new { y = 2 } });
                await Post(s, "/v1/identify", new { traits = new { email = "c@x.com", z = 3 } });
                var r = await Post(s, "/v1/identify", new { userId = "a", anonymousId = "b", traits = new { email = "c@x.com" } });
                Assert.Equal("1", r.GetProperty("id").GetString());
            }
            await using (var s = await TestServer.StartAsync(dir, Settings))
            {
                var p = await s.Http.GetFromJsonAsync<JsonElement>("/v1/profiles/id/3");
                Assert.Equal("1", p.GetProperty("id").GetString());
                var t = p.GetProperty("traits");
                Assert.Equal(1, t.GetProperty("x").GetInt64());
                Assert.Equal(2, t.GetProperty("y").GetInt64());
                Assert.Equal(3, t.GetProperty("z").GetInt64());
                Assert.Equal("1", (await s.Http.GetFromJsonAsync<JsonElement>("/v1/profiles/anonymous_id/b")).GetProperty("id").GetString());
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task Replaying_the_journal_of_merges_rebuilds_the_same_bytes_and_aliases()
    {
        var a = TestServer.NewDataDir();
        var b = TestServer.NewDataDir();
        try
        {
            var live = new Dictionary<ulong, byte[]>();
            var entries = new List<(long Address, JournalEntry Entry)>();
            var engine = ProfileEngine.Open(Options(a), TimeProvider.System, NullLogger.Instance);
            ulong last;
            await using (engine)
            {
                using var session = engine.NewSession();
                var command = new WriteCommand();
                void Write(WriteKind kind, params (string Type, string Value)[] ids)
                {
                    command.Reset();
                    command.Kind = kind;
                    if (kind == WriteKind.Track)
                        command.Event = "Order Completed";
                    else
                        command.AddTrait("n" + ids.Length, TraitValue.Int(ids.Length), "traits");
                    foreach (var (type, value) in ids)
                        command.AddIdentifier(type, value, type);
                    session.Write(command);
                }
                for (int i = 0; i < 6; i++)
                {
                    Write(WriteKind.Identify, ("user_id", "u" + i));
                    Write(WriteKind.Track, ("email", $"e{i}@x.com"));
                }
                Write(WriteKind.Track, ("user_id", "u0"), ("email", "e3@x.com"));
                Write(WriteKind.Identify, ("user_id", "u1"), ("email", "e0@x.com"), ("device", "d"));
                Write(WriteKind.Track, ("email", "e5@x.com"), ("user_id", "u5"), ("anonymous_id", "x"));
                Write(WriteKind.Track, ("anonymous_id", "x"), ("user_id", "u0"));
                last = engine.LastMasterId;
                for (ulong id = 1; id <= last; id++)
                    live[id] = RawProfile(session, id);
                engine.Journal.CommitNow();
                foreach (var (address, bytes) in engine.Journal.Read(engine.Journal.BeginAddress, engine.Journal.TailAddress))
                    entries.Add((address, Cdp.Server.Journal.SealedEntry.Open(bytes, engine.Keys)!));
            }
            Assert.Contains(entries, e => e.Entry.MergedFrom.Count > 0);
            File.Copy(Path.Combine(a, "schema.log"), Path.Combine(b, "schema.log"));
            await using var replayed = ProfileEngine.Open(Options(b), TimeProvider.System, NullLogger.Instance);
            using var s2 = replayed.NewSession();
            foreach (var (address, e) in entries)
                s2.Replay(address, e);
            for (ulong id = 1; id <= last; id++)
                Assert.Equal(Convert.ToHexString(live[id]), Convert.ToHexString(RawProfile(s2, id)));
            Assert.True(live.Values.Count(ProfileRecordIsAlias) >= 3);
        }
        finally
        {
            TestServer.TryDelete(a);
            TestServer.TryDelete(b);
        }
    }

    [Fact]
    public async Task Concurrent_writes_that_chain_profiles_together_end_in_one_profile_per_person_with_every_event_counted_once()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await using var engine = ProfileEngine.Open(Options(dir), TimeProvider.System, NullLogger.Instance);
            const int Users = 120, PerTask = 600, Tasks = 4;
            // Each task links user i's e-mail with user i's id, and sometimes user i with i+1 (a chain).
            var parent = Enumerable.Range(0, Users).ToArray();
            int Find(int x) => parent[x] == x ? x : parent[x] = Find(parent[x]);
            var links = new List<(int, int)>[Tasks];
            for (int t = 0; t < Tasks; t++)
            {
                var random = new Random(t);
                links[t] = [];
                for (int k = 0; k < PerTask; k++)
                {
                    int u = random.Next(Users);
                    int v = random.Next(10) == 0 ? Math.Min(Users - 1, u + 1) : u;
                    links[t].Add((u, v));
                    parent[Find(u)] = Find(v);
                }
            }
            await Task.WhenAll(Enumerable.Range(0, Tasks).Select(t => Task.Run(() =>
            {
                using var session = engine.NewSession();
                var command = new WriteCommand();
                foreach (var (u, v) in links[t])
                {
                    command.Reset();
                    command.Kind = WriteKind.Track;
                    command.Event = "Order Completed";
                    command.AddIdentifier("email", $"e{u}@x.com", "email");
                    command.AddIdentifier("user_id", $"u{v}", "userId");
                    session.Write(command);
                }
            })));

            using var reader = engine.NewSession();
            var profiles = new Dictionary<ulong, long>();
            for (int u = 0; u < Users; u++)
            {
                foreach (var (type, value) in new[] { ("email", $"e{u}@x.com"), ("user_id", $"u{u}") })
                {
                    var view = reader.GetProfile(type, value, null);
                    if (view is null)
                        continue;
                    var r = new ProfileRecordReader(view.Record, view.SharedValues);
                    long count = 0;
                    while (r.NextEvent(out var e))
                        count += (long)e.Count;
                    profiles[view.MasterId] = count;
                }
            }
            var components = Enumerable.Range(0, Users)
                .Where(u => links.Any(l => l.Any(x => x.Item1 == u || x.Item2 == u)))
                .Select(Find).Distinct().Count();
            Assert.Equal(components, profiles.Count);
            Assert.Equal(Tasks * PerTask, profiles.Values.Sum());
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task Replaying_writes_a_checkpoint_already_holds_changes_nothing_even_when_a_later_merge_retired_their_profile()
    {
        // A checkpoint is taken while writes run, so recovery may replay entries whose effects (and
        // those of later entries, such as a merge that turned their profile into an alias) it holds.
        var dir = TestServer.NewDataDir();
        try
        {
            await using var engine = ProfileEngine.Open(Options(dir), TimeProvider.System, NullLogger.Instance);
            using var session = engine.NewSession();
            var command = new WriteCommand();
            void Write(params (string Type, string Value)[] ids)
            {
                command.Reset();
                command.Kind = WriteKind.Track;
                command.Event = "Order Completed";
                foreach (var (type, value) in ids)
                    command.AddIdentifier(type, value, type);
                session.Write(command);
            }
            Write(("user_id", "x"));                                               // P1
            Write(("user_id", "y"), ("email", "w@x.com"));                         // P2
            Write(("anonymous_id", "z"));                                          // P3
            Write(("user_id", "x"), ("email", "w@x.com"));                         // merges P2 into P1
            Write(("anonymous_id", "z"), ("email", "w@x.com"));                    // merges P3 into P1
            var before = Enumerable.Range(1, 3).Select(id => Convert.ToHexString(session.ReadRawProfileForTests((ulong)id))).ToArray();

            engine.Journal.CommitNow();
            foreach (var (address, bytes) in engine.Journal.Read(engine.Journal.BeginAddress, engine.Journal.TailAddress))
                session.Replay(address, Cdp.Server.Journal.SealedEntry.Open(bytes, engine.Keys)!);

            Assert.Equal(before, Enumerable.Range(1, 3).Select(id => Convert.ToHexString(session.ReadRawProfileForTests((ulong)id))).ToArray());
            foreach (var (type, value) in new[] { ("user_id", "x"), ("user_id", "y"), ("email", "w@x.com"), ("anonymous_id", "z") })
            {
                var view = session.GetProfile(type, value, null)!;
                Assert.Equal(1UL, view.MasterId);
                var r = new ProfileRecordReader(view.Record, view.SharedValues);
                Assert.True(r.NextEvent(out var e));
                Assert.Equal(5UL, e.Count);
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task Every_merged_id_leads_to_the_survivor_however_long_its_chain_of_aliases_grows()
    {
        // Profile n is merged into n-1, which is then merged into n-2, and so on: the alias of the
        // first profile merged leads through every later one. No hop limit may cut such a chain: each
        // of these ids was answered by a write and must lead to the survivor, also after a replay.
        var dir = TestServer.NewDataDir();
        try
        {
            await using var engine = ProfileEngine.Open(Options(dir), TimeProvider.System, NullLogger.Instance);
            using var session = engine.NewSession();
            var command = new WriteCommand();
            ulong Write(params (string Type, string Value)[] ids)
            {
                command.Reset();
                command.Kind = WriteKind.Track;
                command.Event = "Order Completed";
                foreach (var (type, value) in ids)
                    command.AddIdentifier(type, value, type);
                return session.Write(command).MasterId;
            }
            const int N = 100;
            for (int i = 1; i <= N; i++)
                Assert.Equal((ulong)i, Write(("user_id", $"u{i}"), ("email", $"e{i}@x.com")));
            for (int i = N; i >= 2; i--)
                Assert.Equal((ulong)(i - 1), Write(("user_id", $"u{i - 1}"), ("email", $"e{i}@x.com")));

            void AssertOneProfile()
            {
                for (int i = 1; i <= N; i++)
                {
                    Assert.True(session.GetProfile("id", i.ToString(System.Globalization.CultureInfo.InvariantCulture), null)?.MasterId == 1UL, $"id {i} does not lead to profile 1");
                    Assert.Equal(1UL, session.GetProfile("email", $"e{i}@x.com", null)!.MasterId);
                }
                var r = new ProfileRecordReader(session.GetProfile("user_id", "u1", null)!.Record, null);
                Assert.True(r.NextEvent(out var e));
                Assert.Equal((ulong)(2 * N - 1), e.Count);
            }
            AssertOneProfile();
            // Replay over a store that already holds everything: each entry's profile is found at the end of its chain.
            engine.Journal.CommitNow();
            foreach (var (address, bytes) in engine.Journal.Read(engine.Journal.BeginAddress, engine.Journal.TailAddress))
                session.Replay(address, Cdp.Server.Journal.SealedEntry.Open(bytes, engine.Keys)!);
            AssertOneProfile();
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    static bool ProfileRecordIsAlias(byte[] r) => ProfileRecord.IsAlias(r);

    static byte[] RawProfile(EngineSession session, ulong id) => session.ReadRawProfileForTests(id);

    static CdpOptions Options(string dir)
    {
        var o = new CdpOptions { DataDir = dir, MaxFrameBodyBytes = 1 << 14 };
        // These tests are about the merge itself, on chains of user ids: no identity limits.
        o.Identity.Rules["user_id"] = new IdentifierRuleOptions { MaxValues = 1000 };
        o.Identity.Rules["email"] = new IdentifierRuleOptions { MaxValues = 1000 };
        o.Store.IndexBytes = 1 << 16;
        o.Store.MemoryBytes = 1 << 22;
        o.Store.PageBytes = 1 << 18;
        o.Store.CheckpointIntervalSeconds = 0;
        o.Journal.PageBytes = 1 << 16;
        o.Journal.MemoryBytes = 1 << 18;
        return o;
    }
}
