using Cdp.Server.Identity;
using Cdp.Server.Profiles;
using Xunit;

namespace Cdp.Tests;

/// <summary>The compact record format: merges keep the rules, and values survive the variable-length encodings.</summary>
public sealed class ProfileRecordTests
{
    static byte[] Delta(Action<ProfileRecordBuilder> fill, ulong seq, long receivedAt, long eventTime)
    {
        var builder = new ProfileRecordBuilder();
        fill(builder);
        return builder.Build(7, seq, receivedAt, eventTime, source: -1).ToArray();
    }

    static byte[] Merge(byte[] current, byte[] delta)
    {
        var destination = new byte[64 * 1024];
        int n = ProfileRecord.Merge(current, delta, destination, Cdp.Server.Computed.ComputedTraitCatalog.Empty);
        Assert.True(n > 0);
        Assert.True(ProfileRecord.IsValid(destination.AsSpan(0, n)));
        return destination[..n];
    }

    [Fact]
    public void A_late_event_counts_but_does_not_overwrite_a_newer_trait()
    {
        var first = Delta(b => { b.AddIdentifier(IdentifierTypes.Email, "a@x.com"); b.AddTrait(1, TraitValue.Int(1)); b.AddEvent(9, 1_000); }, 1, 1_000, 1_000);
        // Received later, but observed earlier (time 500 lies before the record's base time).
        var late = Delta(b => { b.AddTrait(1, TraitValue.Int(2)); b.AddEvent(9, 500); }, 2, 5_000, 500);
        var merged = Merge(Merge([], first), late);

        var reader = new ProfileRecordReader(merged);
        Assert.True(reader.NextTrait(out var trait));
        Assert.Equal(1, trait.Integer);
        Assert.Equal(1_000, trait.Time);
        Assert.True(reader.NextEvent(out var e));
        Assert.Equal(new EventEntry(9, 2, 500, 1_000), e);
        Assert.Equal(1_000, ProfileRecord.CreatedAt(merged));
        Assert.Equal(5_000, ProfileRecord.UpdatedAt(merged));
        Assert.Equal(2UL, ProfileRecord.LastSeq(merged));
    }

    [Fact]
    public void Extreme_values_survive_the_variable_length_encodings()
    {
        var values = new[] { long.MinValue, -1, 0, 63, 64, 8191, 8192, long.MaxValue };
        var record = Delta(b =>
        {
            for (ushort i = 0; i < values.Length; i++)
                b.AddTrait((ushort)(i + 1), TraitValue.Int(values[i]));
            b.AddTrait(100, TraitValue.Timestamp(-62_135_596_800_000));
            b.AddTrait(300, TraitValue.StringList(["", "ü", new string('x', 300)]));
            b.AddTrait(65_535, TraitValue.Double(-0.1));
        }, 1, 1_700_000_000_000, 253_402_300_799_999);
        var merged = Merge([], record);
        var reader = new ProfileRecordReader(merged);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.True(reader.NextTrait(out var t));
            Assert.Equal(values[i], t.Integer);
            Assert.Equal(253_402_300_799_999, t.Time);
        }
        Assert.True(reader.NextTrait(out var ts));
        Assert.Equal(-62_135_596_800_000, ts.Integer);
        Assert.True(reader.NextTrait(out var list));
        var items = list.List;
        Assert.Equal(3, items.Count);
        Assert.True(items.Next(out var a) && a.IsEmpty);
        Assert.True(items.Next(out var b) && b.SequenceEqual("ü"u8));
        Assert.True(items.Next(out var c) && c.Length == 300);
        Assert.True(reader.NextTrait(out var d));
        Assert.Equal((ushort)65_535, d.NameId);
        Assert.Equal(-0.1, d.Number);
    }

    [Fact]
    public void A_record_cut_short_is_reported_invalid()
    {
        var record = Merge([], Delta(b => { b.AddIdentifier(IdentifierTypes.Email, "a@x.com"); b.AddTrait(1, TraitValue.String("value")); }, 1, 10, 10));
        for (int cut = ProfileRecord.HeaderSize; cut < record.Length; cut++)
        {
            var shortened = record[..cut];
            Assert.False(ProfileRecord.IsValid(shortened));
            // Even when the header claims exactly the bytes that are there, the entries its counts
            // promise run past the end, and the reader must notice.
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(shortened.AsSpan(8), (uint)cut);
            Assert.False(ProfileRecord.IsValid(shortened));
        }
    }

    [Fact]
    public void A_name_id_beyond_u16_is_invalid_not_an_exception()
    {
        var record = Merge([], Delta(b => b.AddTrait(1, TraitValue.Null), 1, 10, 10)).ToArray();
        // The trait's name id is the first byte after the header: make it the varint of 2^17.
        var damaged = new byte[record.Length + 2];
        record.AsSpan(0, ProfileRecord.HeaderSize).CopyTo(damaged);
        damaged[ProfileRecord.HeaderSize] = 0x80;
        damaged[ProfileRecord.HeaderSize + 1] = 0x80;
        damaged[ProfileRecord.HeaderSize + 2] = 0x08;
        record.AsSpan(ProfileRecord.HeaderSize + 1).CopyTo(damaged.AsSpan(ProfileRecord.HeaderSize + 3));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(damaged.AsSpan(8), (uint)damaged.Length);
        Assert.False(ProfileRecord.IsValid(damaged));
    }
}
