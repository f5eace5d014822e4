using Cdp.Server.Engine;
using Cdp.Server.Hosting;
using Cdp.Server.Profiles;
using Cdp.Server.Storage;
using Cdp.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Record format 4 keeps the history head in the profile record's header: it must survive eviction
/// to disk, crash replay (live and replayed stores agree, merges and unmerges included), and the
/// upgrade of a format-3 profile whose head was a store record of its own.
/// </summary>
public sealed class RecordFormat4Tests
{
    static CdpOptions Options(string dir) => EngineFixture.SmallStore(dir);

    static WriteResult Track(EngineSession session, WriteCommand command, string email, string? anonymousId = null)
        => EngineFixture.Track(session, command, email, anonymousId is null ? null : ("anonymous_id", anonymousId));

    static (ulong Id, long Head, byte Side) HeadOf(EngineSession session, string type, string value)
    {
        ulong id = session.GetProfile(type, value, null)!.MasterId;
        var raw = session.ReadRawProfileForTests(id);
        return (id, ProfileRecord.HistoryHeadAddress(raw), ProfileRecord.HistoryHeadSide(raw));
    }

    [Fact]
    public async Task A_write_to_a_profile_whose_record_is_on_disk_links_its_history()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await using var engine = ProfileEngine.Open(Options(dir), TimeProvider.System, NullLogger.Instance);
            using var session = engine.NewSession();
            var command = new WriteCommand();
            var first = Track(session, command, "disk@format.test");
            // Everything evicted: the header read and the head move both go to disk (pending operations).
            engine.Store.Kv.Log.FlushAndEvict(wait: true);
            Assert.Equal(engine.Store.Kv.Log.TailAddress, engine.Store.Kv.Log.HeadAddress);
            var second = Track(session, command, "disk@format.test");
            Assert.Equal(first.MasterId, second.MasterId);
            engine.Store.Kv.Log.FlushAndEvict(wait: true);
            var report = session.AccessReport("email", "disk@format.test")!;
            Assert.Null(report.HistoryMissing);
            Assert.Equal(2, report.Writes!.Count);
            Assert.Equal(second.JournalAddress, ProfileRecord.HistoryHeadAddress(session.ReadRawProfileForTests(first.MasterId)));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task Heads_replayed_after_a_crash_equal_the_live_ones_through_a_merge_and_an_unmerge()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            var live = new Dictionary<string, (ulong, long, byte)>();
            await using (var engine = ProfileEngine.Open(Options(dir), TimeProvider.System, NullLogger.Instance))
            {
                using var session = engine.NewSession();
                var command = new WriteCommand();
                var a = Track(session, command, "a@x.test");
                await engine.CheckpointAsync();
                Track(session, command, "a@x.test");
                Track(session, command, "b@x.test", "ub");
                var merged = Track(session, command, "a@x.test", "ub");
                Assert.Equal(a.MasterId, merged.MasterId);
                Track(session, command, "a@x.test");
                session.Unmerge("email", "a@x.test", [("anonymous_id", "ub", "anonymous_id")]);
                live["a@x.test"] = HeadOf(session, "email", "a@x.test");
                live["ub"] = HeadOf(session, "anonymous_id", "ub");
                Assert.NotEqual(live["a@x.test"].Item1, live["ub"].Item1);
                engine.Journal.CommitNow();
                TestServer.CopyDataDirWhileLive(dir, dir + "-crash");
            }
            await using (var engine = ProfileEngine.Open(Options(dir + "-crash"), TimeProvider.System, NullLogger.Instance))
            {
                using var session = engine.NewSession();
                Assert.Equal(live["a@x.test"], HeadOf(session, "email", "a@x.test"));
                Assert.Equal(live["ub"], HeadOf(session, "anonymous_id", "ub"));
                foreach (var (type, value) in new[] { ("email", "a@x.test"), ("anonymous_id", "ub") })
                {
                    Assert.False(session.HasSeparateHistoryHeadForTests(HeadOf(session, type, value).Id));
                    Assert.Null(session.AccessReport(type, value)!.HistoryMissing);
                }
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
            TestServer.TryDelete(dir + "-crash");
        }
    }

    [Fact]
    public async Task A_format_3_profile_upgraded_after_a_checkpoint_replays_to_the_same_store()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            WriteResult first, second;
            await using (var engine = ProfileEngine.Open(Options(dir), TimeProvider.System, NullLogger.Instance))
            {
                using var session = engine.NewSession();
                var command = new WriteCommand();
                first = Track(session, command, "f3@x.test");
                // Make it a format-3 profile: the body as format 5 wrote it (no traits, so format 3
                // reads it the same), the master id at offset 16 and the head as a record of its own.
                var raw = LegacyRecords.Format5(session.ReadRawProfileForTests(first.MasterId));
                raw[0] = ProfileRecord.PreviousFormatVersion;
                raw[1] = 0;  // format 3: flags (format 4: the head's side)
                raw[14] = raw[15] = 0;  // format 3: reserved (format 4: the events offset)
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(16), first.MasterId);
                session.UpsertRawForTests(session.ProfileKeyForTests(first.MasterId), raw);
                var key = new byte[9];
                StoreKeys.WriteHistory(key, first.MasterId);
                var head = new byte[9];
                System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(head, first.JournalAddress);
                session.UpsertRawForTests(key, head);
                Assert.Equal(0, ProfileRecord.HistoryHeadAddress(session.ReadRawProfileForTests(first.MasterId)));
                await engine.CheckpointAsync();

                second = Track(session, command, "f3@x.test");
                Assert.Equal(second.JournalAddress, ProfileRecord.HistoryHeadAddress(session.ReadRawProfileForTests(first.MasterId)));
                Assert.False(session.HasSeparateHistoryHeadForTests(first.MasterId));
                engine.Journal.CommitNow();
                TestServer.CopyDataDirWhileLive(dir, dir + "-crash");
            }
            // The checkpoint holds the format-3 profile; replaying the second write upgrades it again.
            await using (var engine = ProfileEngine.Open(Options(dir + "-crash"), TimeProvider.System, NullLogger.Instance))
            {
                using var session = engine.NewSession();
                Assert.Equal(second.JournalAddress, ProfileRecord.HistoryHeadAddress(session.ReadRawProfileForTests(first.MasterId)));
                Assert.False(session.HasSeparateHistoryHeadForTests(first.MasterId));
                var report = session.AccessReport("email", "f3@x.test")!;
                Assert.Null(report.HistoryMissing);
                Assert.Equal(2, report.Writes!.Count);
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
            TestServer.TryDelete(dir + "-crash");
        }
    }
}
