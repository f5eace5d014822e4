using Cdp.Server.Engine;
using Cdp.Server.Hosting;
using Cdp.Server.Storage;
using Cdp.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Profiles live under 4-byte keys in a store that starts empty; a store written with 9-byte keys
/// (before compact keys existed) keeps them through restarts and crash replay, and a compaction moves
/// it to compact keys. Either way every profile stays reachable by its identifiers and its master id.
/// </summary>
public sealed class CompactProfileKeyTests
{
    static CdpOptions Options(string dir) => EngineFixture.SmallStore(dir);

    static void AssertReachable(EngineSession session, IReadOnlyList<WriteResult> written)
    {
        for (int i = 0; i < written.Count; i++)
        {
            var byEmail = session.GetProfile("email", $"p{i}@keys.test", null);
            Assert.NotNull(byEmail);
            Assert.Equal(written[i].MasterId, byEmail!.MasterId);
            Assert.Equal(written[i].MasterId, session.GetProfile("id", written[i].MasterId.ToString(), null)!.MasterId);
            var report = session.AccessReport("email", $"p{i}@keys.test")!;
            Assert.Null(report.HistoryMissing);
        }
    }

    static List<WriteResult> WriteProfiles(EngineSession session, int count)
    {
        var command = new WriteCommand();
        var written = new List<WriteResult>();
        for (int i = 0; i < count; i++)
            written.Add(EngineFixture.Track(session, command, $"p{i}@keys.test"));
        // A second write to each: an update in place, and a history link to follow.
        for (int i = 0; i < count; i++)
            Assert.Equal(written[i].MasterId, EngineFixture.Track(session, command, $"p{i}@keys.test").MasterId);
        return written;
    }

    [Fact]
    public async Task A_new_store_keeps_profiles_under_four_byte_keys_through_a_checkpoint_and_a_crash()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            List<WriteResult> written;
            await using (var engine = ProfileEngine.Open(Options(dir), TimeProvider.System, NullLogger.Instance))
            {
                using var session = engine.NewSession();
                written = WriteProfiles(session, 20);
                Assert.True(engine.Store.CompactProfileKeys);
                Assert.Equal(4, session.ProfileKeyForTests(written[0].MasterId).Length);
                var nineBytes = new byte[StoreKeys.MaxProfileKeyLength];
                StoreKeys.WriteProfile(nineBytes, written[0].MasterId, compact: false);
                Assert.Empty(session.ReadRawForTests(nineBytes));
                Assert.NotEmpty(session.ReadRawForTests(session.ProfileKeyForTests(written[0].MasterId)));
                // Versions before compact keys refuse a STORE file of two lines rather than miss every profile.
                Assert.Equal("generation 0\ncompact-profile-keys\n", File.ReadAllText(Path.Combine(dir, "STORE")));
                await engine.CheckpointAsync();
                // Written after the checkpoint: replayed from the journal after the crash.
                var command = new WriteCommand();
                for (int i = 0; i < 20; i++)
                    EngineFixture.Track(session, command, $"p{i}@keys.test");
                engine.Journal.CommitNow();
                TestServer.CopyDataDirWhileLive(dir, dir + "-crash");
            }
            await using (var engine = ProfileEngine.Open(Options(dir + "-crash"), TimeProvider.System, NullLogger.Instance))
            {
                Assert.True(engine.Store.CompactProfileKeys);
                using var session = engine.NewSession();
                AssertReachable(session, written.Take(20).ToList());
                // The writes after the checkpoint were replayed: each profile has all three.
                Assert.Equal(3, session.AccessReport("email", "p0@keys.test")!.Writes!.Count);
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
            TestServer.TryDelete(dir + "-crash");
        }
    }

    [Fact]
    public async Task A_store_with_nine_byte_keys_keeps_them_until_a_compaction_moves_it_to_compact_keys()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            List<WriteResult> written;
            await using (var engine = ProfileEngine.Open(Options(dir), TimeProvider.System, NullLogger.Instance))
            {
                engine.Store.UseNineByteProfileKeysForTests();
                using var session = engine.NewSession();
                written = WriteProfiles(session, 30);
                Assert.Equal(9, session.ProfileKeyForTests(written[0].MasterId).Length);
                await engine.CheckpointAsync();
            }
            // A data folder of a version without compact keys has no STORE file until its first compaction.
            File.Delete(Path.Combine(dir, "STORE"));

            await using (var engine = ProfileEngine.Open(Options(dir), TimeProvider.System, NullLogger.Instance))
            {
                Assert.False(engine.Store.CompactProfileKeys);
                using var session = engine.NewSession();
                AssertReachable(session, written);
                // New profiles in an old store take its form too.
                var later = EngineFixture.Track(session, new WriteCommand(), "later@keys.test");
                Assert.Equal(9, session.ProfileKeyForTests(later.MasterId).Length);
                // A crash once the later write is durable (acknowledged): the copy recovers the old
                // checkpoint and replays it, still under 9-byte keys (its STORE file says nothing of them).
                engine.Journal.CommitNow();
                TestServer.CopyDataDirWhileLive(dir, dir + "-crash");
                await using (var crashed = ProfileEngine.Open(Options(dir + "-crash"), TimeProvider.System, NullLogger.Instance))
                {
                    Assert.False(crashed.Store.CompactProfileKeys);
                    using var replayed = crashed.NewSession();
                    AssertReachable(replayed, written);
                    Assert.Equal(later.MasterId, replayed.GetProfile("email", "later@keys.test", null)!.MasterId);
                }

                var result = await engine.CompactAsync();
                Assert.NotNull(result);
                Assert.True(engine.Store.CompactProfileKeys);
                Assert.Equal($"generation {result!.Generation}\ncompact-profile-keys\n", File.ReadAllText(Path.Combine(dir, "STORE")));
                Assert.Equal(4, session.ProfileKeyForTests(written[0].MasterId).Length);
                AssertReachable(session, written);
                Assert.Equal(later.MasterId, session.GetProfile("email", "later@keys.test", null)!.MasterId);
                // No profile is left behind under its old key.
                var oldKey = new byte[StoreKeys.MaxProfileKeyLength];
                StoreKeys.WriteProfile(oldKey, written[0].MasterId, compact: false);
                Assert.Empty(session.ReadRawForTests(oldKey));
            }
            await using (var engine = ProfileEngine.Open(Options(dir), TimeProvider.System, NullLogger.Instance))
            {
                Assert.True(engine.Store.CompactProfileKeys);
                using var session = engine.NewSession();
                AssertReachable(session, written);
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
            TestServer.TryDelete(dir + "-crash");
        }
    }

    [Fact]
    public async Task A_read_that_waits_out_the_compaction_moving_the_store_to_compact_keys_still_finds_the_profile()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await using var engine = ProfileEngine.Open(Options(dir), TimeProvider.System, NullLogger.Instance);
            engine.Store.UseNineByteProfileKeysForTests();
            using var writer = engine.NewSession();
            var written = EngineFixture.Track(writer, new WriteCommand(), "race@keys.test");
            using var reader = engine.NewSession();
            Task<CompactionResult?>? compaction = null;
            // The read builds its (9-byte) key, then the compaction starts; the read enters the store
            // while the compaction holds it, or after it switched: either way on the compact store.
            reader.AfterProfileKeyForTests = () =>
            {
                reader.AfterProfileKeyForTests = null;
                compaction = engine.CompactAsync();
                SpinWait.SpinUntil(() => engine.StorePaused || compaction.IsCompleted);
            };
            var view = reader.GetProfileById(written.MasterId);
            Assert.NotNull(await compaction!);
            Assert.True(engine.Store.CompactProfileKeys);
            Assert.NotNull(view);
            Assert.Equal(written.MasterId, view!.MasterId);
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task A_merged_profile_of_a_nine_byte_store_resolves_and_unmerges_after_the_compaction_that_moves_its_keys()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await using var engine = ProfileEngine.Open(Options(dir), TimeProvider.System, NullLogger.Instance);
            engine.Store.UseNineByteProfileKeysForTests();
            using var session = engine.NewSession();
            var command = new WriteCommand();
            var a = EngineFixture.Track(session, command, "a@keys.test");
            var b = EngineFixture.Track(session, command, "b@keys.test", ("anonymous_id", "anon-b"));
            Assert.NotEqual(a.MasterId, b.MasterId);
            // One write names both: b is merged into a and its master id becomes an alias.
            var merged = EngineFixture.Track(session, command, "a@keys.test", ("anonymous_id", "anon-b"));
            Assert.Equal(a.MasterId, merged.MasterId);

            Assert.NotNull(await engine.CompactAsync());
            Assert.True(engine.Store.CompactProfileKeys);
            // The alias moved with the profiles: b's old id and identifiers lead to the survivor.
            Assert.Equal(a.MasterId, session.GetProfile("email", "b@keys.test", null)!.MasterId);
            Assert.Equal(a.MasterId, session.GetProfile("id", b.MasterId.ToString(), null)!.MasterId);
            Assert.NotEmpty(session.ReadRawForTests(session.ProfileKeyForTests(b.MasterId)));
            Assert.Null(session.AccessReport("email", "a@keys.test")!.HistoryMissing);

            // An unmerge rebuilds both sides from the journal and writes them under compact keys.
            session.Unmerge("email", "a@keys.test", [("anonymous_id", "anon-b", "anonymous_id")]);
            var split = session.GetProfile("anonymous_id", "anon-b", null)!;
            Assert.NotEqual(a.MasterId, split.MasterId);
            Assert.Equal(a.MasterId, session.GetProfile("email", "a@keys.test", null)!.MasterId);
            var oldKey = new byte[StoreKeys.MaxProfileKeyLength];
            StoreKeys.WriteProfile(oldKey, a.MasterId, compact: false);
            Assert.Empty(session.ReadRawForTests(oldKey));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void Compact_keys_cover_master_ids_below_two_to_the_28_and_are_distinct()
    {
        var seen = new HashSet<string>();
        Span<byte> key = stackalloc byte[StoreKeys.MaxProfileKeyLength];
        Span<byte> converted = stackalloc byte[StoreKeys.MaxProfileKeyLength];
        foreach (ulong id in new ulong[] { 1, 255, 256, 65_535, 65_536, (1 << 24) - 1, 1 << 24, StoreKeys.CompactProfileLimit - 1 })
        {
            int n = StoreKeys.WriteProfile(key, id, compact: true);
            Assert.Equal(4, n);
            Assert.True(key[0] >= StoreKeys.CompactProfile);
            Assert.True(seen.Add(Convert.ToHexString(key[..n])));
            var longKey = new byte[StoreKeys.MaxProfileKeyLength];
            StoreKeys.WriteProfile(longKey, id, compact: false);
            Assert.True(converted[..StoreKeys.TryCompactProfileKey(longKey, converted)].SequenceEqual(key[..n]));
        }
        Assert.Equal(9, StoreKeys.WriteProfile(key, StoreKeys.CompactProfileLimit, compact: true));
        Assert.Equal(0, StoreKeys.TryCompactProfileKey(key[..9], converted));
    }
}
