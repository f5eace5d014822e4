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
        return builder.Build(seq, receivedAt, eventTime, source: -1).ToArray();
    }

    static byte[] Merge(byte[] current, byte[] delta)
    {
        var destination = new byte[64 * 1024];
        int n = ProfileRecord.Merge(current, delta, destination, Cdp.Server.Computed.ComputedTraitCatalog.Empty, null);
        Assert.True(n > 0);
        Assert.True(ProfileRecord.IsValid(destination.AsSpan(0, n)));
        return destination[..n];
    }

    [Fact]
    public void Doubles_read_back_bit_for_bit_and_decimals_take_fewer_than_eight_bytes()
    {
        var random = new Random(7);
        var values = new List<double>
        {
            0, 1, -1.5, 9.99, 399.6, 0.1 + 0.2, 1e-7, 123456.789012, 1234567.8901234, -0.0, 5e-324,
            double.MaxValue, double.MinValue, 1e300, 1L << 53, double.NaN, double.PositiveInfinity, double.NegativeInfinity,
        };
        for (int i = 0; i < 5_000; i++)
        {
            values.Add(BitConverter.Int64BitsToDouble(random.NextInt64()));
            values.Add(Math.Round((random.NextDouble() - 0.5) * 1e6, random.Next(0, 8)));
            values.Add(random.Next(1, 100_000) * 1.37 % 10_000);
        }
        foreach (var value in values)
        {
            var record = Merge([], Delta(b => b.AddTrait(1, TraitValue.Double(value)), 1, 1_000, 1_000));
            var reader = new ProfileRecordReader(record, null);
            Assert.True(reader.NextTrait(out var trait));
            Assert.Equal(TraitKind.Double, trait.Kind);
            Assert.Equal(BitConverter.DoubleToInt64Bits(value), BitConverter.DoubleToInt64Bits(trait.Number));
            Assert.True(trait.Payload.Length <= 8);
        }
        static byte KindOf(double value)
        {
            var reader = new ProfileRecordReader(Delta(b => b.AddTrait(1, TraitValue.Double(value)), 1, 1_000, 1_000), null);
            reader.NextTrait(out var trait);
            return trait.StoredKind;
        }
        Assert.Equal(StoredKind.DecimalDouble, KindOf(9.99));
        Assert.Equal(StoredKind.DecimalDouble, KindOf(-1234.5));
        Assert.Equal((byte)TraitKind.Double, KindOf(0.1 + 0.2));   // 0.30000000000000004
        Assert.Equal((byte)TraitKind.Double, KindOf(-0.0));        // would read back as +0
        Assert.Equal((byte)TraitKind.Double, KindOf(double.NaN));
    }

    [Fact]
    public void A_late_event_counts_but_does_not_overwrite_a_newer_trait()
    {
        var first = Delta(b => { b.AddIdentifier(IdentifierTypes.Email, "a@x.com"); b.AddTrait(1, TraitValue.Int(1)); b.AddEvent(9, 1_000); }, 1, 1_000, 1_000);
        // Received later, but observed earlier (time 500 lies before the record's base time).
        var late = Delta(b => { b.AddTrait(1, TraitValue.Int(2)); b.AddEvent(9, 500); }, 2, 5_000, 500);
        var merged = Merge(Merge([], first), late);

        var reader = new ProfileRecordReader(merged, null);
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
        var reader = new ProfileRecordReader(merged, null);
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

    [Fact]
    public void A_trait_written_with_the_profile_and_no_source_costs_one_byte_of_header()
    {
        // Time equal to the base (the creating write's time) and no source: neither is stored, and
        // the name id (1, a step of 2 from the start) fits in the tag.
        var plain = Merge([], Delta(b => b.AddTrait(1, TraitValue.Int(5)), 1, 1_000, 1_000));
        Assert.Equal(ProfileRecord.HeaderSize + 2, ProfileRecord.UsedLength(plain));
        Assert.Equal(ProfileRecord.FormatVersion, plain[0]);

        // A source and a time off the base are both kept, and read back.
        var builder = new ProfileRecordBuilder();
        builder.AddTrait(1, TraitValue.Int(5));
        var sourced = Merge([], builder.Build(1, 1_000, 900, source: 300).ToArray());
        Assert.True(ProfileRecord.UsedLength(sourced) > ProfileRecord.HeaderSize + 3);
        var reader = new ProfileRecordReader(sourced, null);
        Assert.True(reader.NextTrait(out var t));
        Assert.Equal(300, t.Source);
        Assert.Equal(900, t.Time);
        Assert.Equal(5, t.Integer);

        var unsourced = new ProfileRecordReader(plain, null);
        Assert.True(unsourced.NextTrait(out var u));
        Assert.Equal(-1, u.Source);
        Assert.Equal(1_000, u.Time);
    }

    /// <summary>A format-3 record as earlier versions stored it: every trait has its kind byte, source + 1 and time.</summary>
    static byte[] PreviousFormatRecord()
    {
        var r = new byte[ProfileRecord.HeaderSize + 64];
        var w = new SpanWriter(r, 1_000);
        w.Skip(ProfileRecord.HeaderSize);
        Assert.True(w.TryWriteIdentifier(IdentifierTypes.Email, "a@x.com"u8));
        // name 1: int 5, no source (0), time = base (zigzag 0)
        Assert.True(w.TryWriteVarint(1) && w.TryWriteByte((byte)TraitKind.Int) && w.TryWriteVarint(0) && w.TryWriteZigZag(0) && w.TryWriteZigZag(5));
        // name 2: string "old", source 7 (stored as 8), time base - 200
        Assert.True(w.TryWriteVarint(2) && w.TryWriteByte((byte)TraitKind.String) && w.TryWriteVarint(8) && w.TryWriteZigZag(-200) && w.TryWriteString("old"));
        ProfileRecord.WriteHeader(r, identifiers: 1, traits: 2, events: 0, computed: 0, w.Position, historyHead: 0, historySide: 0, lastSeq: 3, createdAt: 1_000, updatedAt: 2_000, eventsOffset: 0);
        r[0] = ProfileRecord.PreviousFormatVersion;
        // Format 3 kept the master id where format 4 keeps the history head.
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(16), 7);
        return r[..w.Position];
    }

    [Fact]
    public void A_format_3_record_is_still_read_and_a_write_turns_it_into_format_4()
    {
        var old = PreviousFormatRecord();
        Assert.True(ProfileRecord.IsValid(old));
        var reader = new ProfileRecordReader(old, null);
        Assert.True(reader.NextTrait(out var first));
        Assert.Equal((5L, -1, 1_000L), (first.Integer, first.Source, first.Time));
        Assert.True(reader.NextTrait(out var second));
        Assert.True(second.Utf8.SequenceEqual("old"u8));
        Assert.Equal((7, 800L), (second.Source, second.Time));

        Assert.Equal(0, ProfileRecord.HistoryHeadAddress(old));

        var merged = Merge(old, Delta(b => b.AddTrait(3, TraitValue.Bool(true)), 4, 3_000, 3_000));
        Assert.Equal(ProfileRecord.FormatVersion, merged[0]);
        // The master id is not taken for a history head.
        Assert.Equal(0, ProfileRecord.HistoryHeadAddress(merged));
        var after = new ProfileRecordReader(merged, null);
        Assert.True(after.NextIdentifier(out _, out var email) && email.SequenceEqual("a@x.com"u8));
        Assert.True(after.NextTrait(out var a));
        Assert.Equal((1, 5L, -1, 1_000L), ((int)a.NameId, a.Integer, a.Source, a.Time));
        Assert.True(after.NextTrait(out var b));
        Assert.True(b.Utf8.SequenceEqual("old"u8));
        Assert.Equal((2, 7, 800L), ((int)b.NameId, b.Source, b.Time));
        Assert.True(after.NextTrait(out var c));
        Assert.Equal((3, TraitKind.True, 3_000L), ((int)c.NameId, c.Kind, c.Time));
        Assert.False(after.NextTrait(out _));
    }

    [Fact]
    public void A_trait_tag_with_unknown_bits_is_invalid_not_an_exception()
    {
        var record = Merge([], Delta(b => b.AddTrait(1, TraitValue.Int(5)), 1, 10, 10)).ToArray();
        // Format 6: the header, then the tag, whose every bit means something; kinds 11-15 do not exist.
        record[ProfileRecord.HeaderSize] |= 0x0F;
        Assert.False(ProfileRecord.IsValid(record));

        // Format 5: the name id (1 byte), then the tag, whose bits 6-7 are unused.
        var format5 = LegacyRecords.Format5(Merge([], Delta(b => b.AddTrait(1, TraitValue.Int(5)), 1, 10, 10)));
        Assert.True(ProfileRecord.IsValid(format5));
        format5[ProfileRecord.HeaderSize + 1] |= 0x40;
        Assert.False(ProfileRecord.IsValid(format5));
    }

    [Fact]
    public void Trait_names_are_stored_as_steps_and_read_back_whatever_their_gaps()
    {
        var random = new Random(20261207);
        for (int round = 0; round < 500; round++)
        {
            // Dense runs (steps 1-3 fit the tag), gaps (the name id follows) and ids past 127 (two-byte varints).
            var names = new SortedSet<ushort>();
            int count = random.Next(1, 40);
            ushort next = (ushort)random.Next(0, 4);
            for (int i = 0; i < count; i++)
            {
                names.Add(next);
                next += (ushort)(random.Next(4) == 0 ? random.Next(4, 400) : random.Next(1, 4));
            }
            var builder = new ProfileRecordBuilder();
            builder.AddIdentifier(IdentifierTypes.Email, $"u{round}@x.com");
            foreach (var name in names)
                builder.AddTrait(name, TraitValue.Int(name * 7));
            var record = Merge([], builder.Build(1, 1_000, 1_000, -1).ToArray());
            Assert.True(ProfileRecord.IsValid(record));
            // A merge that adds traits in between re-encodes the steps around them.
            var more = new ProfileRecordBuilder();
            var added = new SortedSet<ushort>();
            for (int i = 0; i < random.Next(0, 10); i++)
                added.Add((ushort)random.Next(0, 1000));
            foreach (var name in added)
                more.AddTrait(name, TraitValue.Int(name * 7));
            var merged = Merge(record, more.Build(2, 2_000, 2_000, -1).ToArray());
            Assert.True(ProfileRecord.IsValid(merged));

            names.UnionWith(added);
            var reader = new ProfileRecordReader(merged, null);
            foreach (var name in names)
            {
                Assert.True(reader.NextTrait(out var t));
                Assert.Equal((name, name * 7L), (t.NameId, t.Integer));
            }
            Assert.False(reader.NextTrait(out _));
            // Format 5 holds the same profile in more bytes.
            var old = LegacyRecords.Format5(merged);
            Assert.True(ProfileRecord.IsValid(old));
            Assert.True(old.Length > merged.Length);
            Assert.Equal(merged, Reencode(old));
        }
    }

    /// <summary>A record of an older format as a merge rewrites it: in the current format, with the same content.</summary>
    static byte[] Reencode(byte[] old) => Merge(old, Delta(_ => { }, 0, ProfileRecord.CreatedAt(old), ProfileRecord.UpdatedAt(old)));

    [Fact]
    public void Identifiers_are_packed_when_short_and_kept_whole_when_long()
    {
        var longValue = new string('x', 40) + "@example.com";
        var longest = new string('y', 31);
        var tooLong = new string('z', 32);
        var builder = new ProfileRecordBuilder();
        builder.AddIdentifier(IdentifierTypes.Email, "a@x.com");
        builder.AddIdentifier(IdentifierTypes.Email, longValue);
        builder.AddIdentifier(7, longest);
        builder.AddIdentifier(7, tooLong);
        builder.AddIdentifier(200, "custom");
        var record = Merge([], builder.Build(1, 1_000, 1_000, -1).ToArray());
        // 1 + 7; 0 | type | length | 52 bytes; 1 + 31; 0 | 7 | length | 32 bytes; 0 | 200 | length | 6 bytes.
        Assert.Equal(ProfileRecord.HeaderSize + 8 + 3 + longValue.Length + 1 + 31 + 3 + 32 + 3 + 6, ProfileRecord.UsedLength(record));
        var reader = new ProfileRecordReader(record, null);
        var read = new List<(byte, string)>();
        while (reader.NextIdentifier(out var t, out var v))
            read.Add((t, System.Text.Encoding.UTF8.GetString(v)));
        Assert.Equal([(IdentifierTypes.Email, "a@x.com"), (IdentifierTypes.Email, longValue), ((byte)7, longest), ((byte)7, tooLong), ((byte)200, "custom")], read);

        // The escape is a zero byte; any other byte below 0x20 is damage.
        var damaged = record.ToArray();
        int escape = ProfileRecord.HeaderSize + 8;
        Assert.Equal(0, damaged[escape]);
        damaged[escape] = 0x05;
        Assert.False(ProfileRecord.IsValid(damaged));
    }

    [Fact]
    public void Counting_events_in_place_writes_exactly_what_a_merge_writes()
    {
        var random = new Random(20261206);
        int inPlace = 0;
        for (int round = 0; round < 2000; round++)
        {
            long created = 1_700_000_000_000 + random.Next(1_000_000);
            var builder = new ProfileRecordBuilder();
            builder.AddIdentifier(IdentifierTypes.Email, $"u{random.Next(5)}@x.com");
            builder.AddIdentifier(1, $"id{random.Next(5)}");
            for (ushort t = 1; t <= random.Next(0, 6); t++)
                builder.AddTrait(t, random.Next(3) == 0 ? TraitValue.String(new string('s', random.Next(20))) : TraitValue.Int(random.Next(-300, 300)));
            var eventNames = new[] { (ushort)3, (ushort)9, (ushort)200 };
            var current = Merge([], builder.Build(1, created, created, -1).ToArray());
            // Counters as live writes make them: one delta per event (a tenth of the records pass 128).
            foreach (var name in eventNames)
                if (random.Next(3) > 0)
                    for (int n = random.Next(1, random.Next(10) == 0 ? 140 : 12); n > 0; n--)
                    {
                        var e = new ProfileRecordBuilder();
                        e.AddEvent(name, created + random.Next(-5_000, 5_000_000));
                        current = Merge(current, e.Build((ulong)random.Next(1, 100), created + random.Next(0, 5_000_000), created, -1).ToArray());
                    }

            // A later (sometimes earlier) write: usually only events, sometimes an identifier, a trait or a new event.
            // A tenth arrive with a receive time before the record's creation (another node's clock):
            // a merge then re-bases every time in the record, so the counters cannot be patched.
            long received = created + random.Next(10) switch
            {
                0 => -random.Next(1, 1_000),
                < 4 => random.Next(0, 400_000_000),
                _ => random.Next(0, 5_000_000),
            };
            var delta = new ProfileRecordBuilder();
            if (random.Next(4) == 0)
                delta.AddIdentifier(IdentifierTypes.Email, $"u{random.Next(5)}@x.com");
            if (random.Next(10) == 0)
                delta.AddTrait(1, TraitValue.Int(1));
            for (int n = random.Next(4) == 0 ? random.Next(1, 3) : 0; n >= 0; n--)
                delta.AddEvent(eventNames[random.Next(eventNames.Length)], received + random.Next(-100_000, 100_000));
            var deltaBytes = delta.Build((ulong)random.Next(1, 200), received, received, -1).ToArray();

            var expected = Merge(current, deltaBytes);
            var patched = current.ToArray();
            if (!ProfileRecord.TryMergeEventsInPlace(patched, deltaBytes))
            {
                Assert.Equal(current, patched);
                continue;
            }
            inPlace++;
            Assert.Equal(expected, patched);
        }
        // The fast path is taken for most of these writes, not just allowed in theory.
        Assert.True(inPlace > 500, $"in place {inPlace} of 2000");
    }

    [Fact]
    public void The_header_says_where_the_events_start_and_a_wrong_offset_is_invalid()
    {
        var record = Merge([], Delta(b => { b.AddIdentifier(IdentifierTypes.Email, "a@x.com"); b.AddTrait(1, TraitValue.String("value")); b.AddEvent(9, 10); }, 1, 10, 10));
        int offset = ProfileRecord.EventsOffset(record);
        var reader = new ProfileRecordReader(record, null);
        while (reader.NextTrait(out _)) { }
        Assert.Equal(reader.Position, offset);

        var damaged = record.ToArray();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(damaged.AsSpan(14), (ushort)(offset - 1));
        Assert.False(ProfileRecord.IsValid(damaged));
        // Unknown (0) is allowed: the events are found by walking.
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(damaged.AsSpan(14), 0);
        Assert.True(ProfileRecord.IsValid(damaged));
    }

    /// <summary>A record as format 4 stored it: the head's side in byte 14, byte 1 zero, no events offset.</summary>
    static byte[] Format4Record(byte[] record)
    {
        var r = LegacyRecords.Format5(record);
        byte side = ProfileRecord.HistoryHeadSide(r);
        r[0] = ProfileRecord.Format4;
        r[1] = 0;
        r[14] = side;
        r[15] = 0;
        return r;
    }

    [Fact]
    public void A_format_4_record_keeps_its_head_is_merged_into_the_current_format_and_is_never_patched_in_place()
    {
        var current = Merge([], Delta(b => { b.AddIdentifier(IdentifierTypes.Email, "a@x.com"); b.AddTrait(1, TraitValue.Int(1)); b.AddEvent(9, 10); }, 1, 10, 10));
        ProfileRecord.SetHistoryHead(current, 4_096, side: 2);
        var old = Format4Record(current);
        Assert.True(ProfileRecord.IsValid(old));
        Assert.Equal((4_096L, (byte)2, 0), (ProfileRecord.HistoryHeadAddress(old), ProfileRecord.HistoryHeadSide(old), ProfileRecord.EventsOffset(old)));

        // A head move (a replayed write the record already holds) keeps the format-4 layout.
        var moved = old.ToArray();
        ProfileRecord.SetHistoryHead(moved, 8_192, side: 1);
        Assert.Equal((ProfileRecord.Format4, 8_192L, (byte)1, (byte)0), (moved[0], ProfileRecord.HistoryHeadAddress(moved), moved[14], moved[1]));
        Assert.True(ProfileRecord.IsValid(moved));

        // Counting an event goes through the merge, which writes the current format with the same head.
        var count = Delta(b => b.AddEvent(9, 20), 2, 20, 20);
        var patched = old.ToArray();
        Assert.False(ProfileRecord.TryMergeEventsInPlace(patched, count));
        Assert.Equal(old, patched);
        var merged = Merge(old, count);
        Assert.Equal(ProfileRecord.FormatVersion, merged[0]);
        Assert.Equal((4_096L, (byte)2), (ProfileRecord.HistoryHeadAddress(merged), ProfileRecord.HistoryHeadSide(merged)));
        Assert.NotEqual(0, ProfileRecord.EventsOffset(merged));
    }

    [Fact]
    public void A_delta_naming_an_identifier_twice_is_merged_not_patched()
    {
        var current = Merge([], Delta(b => { b.AddIdentifier(IdentifierTypes.Email, "a@x.com"); b.AddEvent(9, 10); }, 1, 10, 10));
        var delta = Delta(b => { b.AddIdentifier(IdentifierTypes.Email, "a@x.com"); b.AddIdentifier(IdentifierTypes.Email, "a@x.com"); b.AddEvent(9, 20); }, 2, 20, 20);
        var patched = current.ToArray();
        Assert.False(ProfileRecord.TryMergeEventsInPlace(patched, delta));
        Assert.Equal(current, patched);
    }
}
