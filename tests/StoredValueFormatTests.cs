using System.Buffers.Binary;
using Cdp.Server.Engine;
using Cdp.Server.Hosting;
using Cdp.Server.Storage;
using Cdp.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Identity entries now hold a master id in 4 bytes and history heads live in the profile record (format 4);
/// stores written before (8-byte ids, heads as 16- or 9-byte records of their own) must still be read and updated.
/// </summary>
public sealed class StoredValueFormatTests
{
    [Fact]
    public async Task Identity_and_history_values_in_the_older_wider_form_are_read_and_rewritten()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            await using var engine = ProfileEngine.Open(EngineFixture.SmallStore(dir), TimeProvider.System, NullLogger.Instance);
            using var session = engine.NewSession();
            var command = new WriteCommand();
            WriteResult Track(string email, string? userId = null)
                => EngineFixture.Track(session, command, email, userId is null ? null : ("user_id", userId));
            var oldest = Track("oldest@format.test", "z");
            var first = Track("old@format.test");
            // Format 4: the head lives in the profile record, with no store record of its own.
            Assert.False(session.HasSeparateHistoryHeadForTests(oldest.MasterId));
            Assert.Equal(oldest.JournalAddress, Cdp.Server.Profiles.ProfileRecord.HistoryHeadAddress(session.ReadRawProfileForTests(oldest.MasterId)));

            // Rewrite both values the way earlier versions stored them.
            var identityKey = new byte[StoreKeys.MaxKeyLength];
            int length = StoreKeys.WriteIdentity(identityKey, Cdp.Server.Identity.IdentifierTypes.Email, "old@format.test");
            var wideId = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(wideId, first.MasterId);
            session.UpsertRawForTests(identityKey.AsSpan(0, length), wideId);
            var historyKey = new byte[9];
            StoreKeys.WriteHistory(historyKey, first.MasterId);
            var wideHead = new byte[16];
            BinaryPrimitives.WriteInt64LittleEndian(wideHead, first.JournalAddress);
            session.UpsertRawForTests(historyKey, wideHead);
            // Before format 4 the record held no head: the one of its own is what a write must find.
            var profileKey = session.ProfileKeyForTests(first.MasterId);
            var record = session.ReadRawProfileForTests(first.MasterId);
            Assert.Equal(first.JournalAddress, Cdp.Server.Profiles.ProfileRecord.HistoryHeadAddress(record));
            Cdp.Server.Profiles.ProfileRecord.SetHistoryHead(record, 0, 0);
            session.UpsertRawForTests(profileKey, record);
            Assert.True(session.HasSeparateHistoryHeadForTests(first.MasterId));

            Assert.Equal(first.MasterId, session.ReadIdentifierEntryForTests("email", "old@format.test"));
            Assert.Equal(first.MasterId, session.GetProfile("email", "old@format.test", null)!.MasterId);
            var second = Track("old@format.test");
            Assert.Equal(first.MasterId, second.MasterId);
            Assert.False(second.Created);
            // The second write linked back to the first through the 16-byte head.
            var report = session.AccessReport("email", "old@format.test")!;
            Assert.Null(report.HistoryMissing);
            Assert.Equal(2, report.Writes!.Count);
            var reader = new Cdp.Server.Profiles.ProfileRecordReader(report.View.Record, report.View.SharedValues);
            Assert.True(reader.NextEvent(out var orders));
            Assert.Equal(2, (int)orders.Count);
            // ...and moved the head into the record, deleting the separate one.
            Assert.False(session.HasSeparateHistoryHeadForTests(first.MasterId));
            Assert.Equal(second.JournalAddress, Cdp.Server.Profiles.ProfileRecord.HistoryHeadAddress(session.ReadRawProfileForTests(first.MasterId)));

            // A merge into the older profile re-points the e-mail: the 4-byte id replaces the 8-byte
            // value in place, and lookups follow it.
            var merged = Track("old@format.test", "z");
            Assert.Equal(oldest.MasterId, merged.MasterId);
            Assert.Equal(oldest.MasterId, session.ReadIdentifierEntryForTests("email", "old@format.test"));
            Assert.Equal(oldest.MasterId, session.GetProfile("email", "old@format.test", null)!.MasterId);

            // A value of any other width is damage, said as such rather than misread.
            session.UpsertRawForTests(identityKey.AsSpan(0, length), new byte[5]);
            var error = Assert.Throws<EngineException>(() => session.GetProfile("email", "old@format.test", null));
            Assert.Contains("damaged", error.Message);
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }
}
