using Cdp.Server.Profiles;
using Xunit;

namespace Cdp.Tests;

/// <summary>Profile records in the layouts earlier versions wrote, made from current ones, for the tests that read old stores.</summary>
internal static class LegacyRecords
{
    /// <summary>
    /// <paramref name="record"/> re-encoded in format 5 (identifiers unpacked, every trait with its name id),
    /// with the same header fields. Format 4 differs from it only in the header; format 3 also in each
    /// trait's header, so a record without traits is all a test can turn into format 3 by its header.
    /// </summary>
    public static byte[] Format5(ReadOnlySpan<byte> record)
    {
        var r = new byte[record.Length + 4 * (ProfileRecord.IdentifierCount(record) + ProfileRecord.TraitCount(record)) + 16];
        long createdAt = ProfileRecord.CreatedAt(record);
        var reader = new ProfileRecordReader(record[..ProfileRecord.UsedLength(record)], null);
        var w = new SpanWriter(r, createdAt);
        w.Skip(ProfileRecord.HeaderSize);
        while (reader.NextIdentifier(out var type, out var value))
            Assert.True(w.TryWriteIdentifier(type, value));
        while (reader.NextTrait(out var trait))
            Assert.True(w.TryWriteTrait(trait));
        int eventsOffset = w.Position;
        while (reader.NextEvent(out var e))
            Assert.True(w.TryWriteEvent(e));
        while (reader.NextComputed(out var id, out var state))
            Assert.True(w.TryWriteVarint(id) && w.TryWriteLengthPrefixed(state));
        ProfileRecord.WriteHeader(r, ProfileRecord.IdentifierCount(record), ProfileRecord.TraitCount(record), ProfileRecord.EventCount(record),
            ProfileRecord.ComputedCount(record), w.Position, ProfileRecord.HistoryHeadAddress(record), ProfileRecord.HistoryHeadSide(record),
            ProfileRecord.LastSeq(record), createdAt, ProfileRecord.UpdatedAt(record), eventsOffset);
        r[0] = ProfileRecord.Format5;
        return r[..w.Position];
    }
}
