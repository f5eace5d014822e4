using System.Buffers.Binary;

namespace Cdp.Server.Profiles;

/// <summary>
/// The binary layout of a profile as it lives in the FASTER log: one contiguous span, little-endian.
/// </summary>
/// <remarks>
/// <code>
/// header (48 bytes)
///   0 u8  format version (1)       1 u8  flags
///   2 u16 identifier count         4 u16 trait count       6 u16 event count
///   8 u32 used length (header included; the FASTER value may be larger: spare capacity for in-place growth)
///  12 u32 reserved
///  16 u64 master id               24 u64 last applied sequence number
///  32 i64 created at (Unix ms)    40 i64 updated at (Unix ms)
/// identifiers, sorted by (type, bytes):   u8 type | u16 length | UTF-8 value
/// traits, sorted by name id:              u16 name id | u8 kind | i64 event time | payload
///     payload: none (null, false, true) | i64 (int, timestamp) | f64 (double)
///              | u16 length + UTF-8 (string) | u16 count + (u16 length + UTF-8)* (string list)
/// events, sorted by name id:              u16 name id | u64 count | i64 first | i64 last
/// </code>
/// A write is applied as a "delta" that has this very layout (see <see cref="ProfileRecordBuilder"/>),
/// and applying it is a merge of two records (<see cref="Merge"/>), so the same code will later
/// combine two whole profiles.
/// </remarks>
public static class ProfileRecord
{
    /// <summary>Record format version.</summary>
    public const byte FormatVersion = 1;
    /// <summary>Size of the fixed header.</summary>
    public const int HeaderSize = 48;

    /// <summary>Number of identifiers.</summary>
    public static int IdentifierCount(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadUInt16LittleEndian(r[2..]);
    /// <summary>Number of traits.</summary>
    public static int TraitCount(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadUInt16LittleEndian(r[4..]);
    /// <summary>Number of event types.</summary>
    public static int EventCount(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadUInt16LittleEndian(r[6..]);
    /// <summary>Bytes in use, header included.</summary>
    public static int UsedLength(ReadOnlySpan<byte> r) => (int)BinaryPrimitives.ReadUInt32LittleEndian(r[8..]);
    /// <summary>The profile's master id.</summary>
    public static ulong MasterId(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadUInt64LittleEndian(r[16..]);
    /// <summary>Sequence number of the last write applied.</summary>
    public static ulong LastSeq(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadUInt64LittleEndian(r[24..]);
    /// <summary>Creation time, Unix ms.</summary>
    public static long CreatedAt(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadInt64LittleEndian(r[32..]);
    /// <summary>Last update time, Unix ms.</summary>
    public static long UpdatedAt(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadInt64LittleEndian(r[40..]);

    /// <summary>Checks that <paramref name="r"/> is a whole, well-formed record; guards every reader.</summary>
    public static bool IsValid(ReadOnlySpan<byte> r)
    {
        if (r.Length < HeaderSize || r[0] != FormatVersion)
            return false;
        int used = UsedLength(r);
        if (used < HeaderSize || used > r.Length)
            return false;
        var reader = new ProfileRecordReader(r[..used]);
        try
        {
            while (reader.NextIdentifier(out _, out _)) { }
            while (reader.NextTrait(out _)) { }
            while (reader.NextEvent(out _)) { }
            return reader.Position == used;
        }
        catch (ArgumentOutOfRangeException)
        {
            return false;
        }
    }

    /// <summary>
    /// Merges <paramref name="delta"/> into <paramref name="current"/> (empty for a new profile) and
    /// writes the result to <paramref name="destination"/>. Returns the bytes written, or -1 when
    /// <paramref name="destination"/> is too small. <paramref name="destination"/> must not overlap the inputs.
    /// </summary>
    /// <remarks>
    /// Identifiers are a set union; a trait keeps the value with the later event time, and on equal
    /// times the delta's (it is the later write); event counters add up, first/last take min/max.
    /// Every rule is commutative except the equal-time tie, which follows sequence order, so the
    /// journal replays to the same bytes the live path produced.
    /// </remarks>
    public static int Merge(ReadOnlySpan<byte> current, ReadOnlySpan<byte> delta, Span<byte> destination)
    {
        if (current.IsEmpty)
        {
            int len = UsedLength(delta);
            if (len > destination.Length)
                return -1;
            delta[..len].CopyTo(destination);
            return len;
        }
        if (destination.Length < HeaderSize)
            return -1;
        var a = new ProfileRecordReader(current[..UsedLength(current)]);
        var b = new ProfileRecordReader(delta[..UsedLength(delta)]);
        var w = new SpanWriter(destination);
        w.Skip(HeaderSize);

        // Identifiers: sorted union.
        int identifiers = 0;
        bool hasA = a.NextIdentifier(out var aType, out var aValue), hasB = b.NextIdentifier(out var bType, out var bValue);
        while (hasA || hasB)
        {
            int cmp = !hasA ? 1 : !hasB ? -1 : CompareIdentifier(aType, aValue, bType, bValue);
            if (cmp <= 0)
            {
                if (!w.TryWriteIdentifier(aType, aValue)) return -1;
                if (cmp == 0) hasB = b.NextIdentifier(out bType, out bValue);
                hasA = a.NextIdentifier(out aType, out aValue);
            }
            else
            {
                if (!w.TryWriteIdentifier(bType, bValue)) return -1;
                hasB = b.NextIdentifier(out bType, out bValue);
            }
            identifiers++;
        }

        // Traits: by name id, later event time wins, the delta wins ties.
        int traits = 0;
        bool hasTa = a.NextTrait(out var ta), hasTb = b.NextTrait(out var tb);
        while (hasTa || hasTb)
        {
            int cmp = !hasTa ? 1 : !hasTb ? -1 : ta.NameId.CompareTo(tb.NameId);
            if (cmp < 0) { if (!w.TryWrite(ta.Raw)) return -1; hasTa = a.NextTrait(out ta); }
            else if (cmp > 0) { if (!w.TryWrite(tb.Raw)) return -1; hasTb = b.NextTrait(out tb); }
            else
            {
                if (!w.TryWrite(ta.Time > tb.Time ? ta.Raw : tb.Raw)) return -1;
                hasTa = a.NextTrait(out ta);
                hasTb = b.NextTrait(out tb);
            }
            traits++;
        }

        // Events: counters add up, first/last widen.
        int events = 0;
        bool hasEa = a.NextEvent(out var ea), hasEb = b.NextEvent(out var eb);
        while (hasEa || hasEb)
        {
            int cmp = !hasEa ? 1 : !hasEb ? -1 : ea.NameId.CompareTo(eb.NameId);
            EventEntry e;
            if (cmp < 0) { e = ea; hasEa = a.NextEvent(out ea); }
            else if (cmp > 0) { e = eb; hasEb = b.NextEvent(out eb); }
            else
            {
                e = new EventEntry(ea.NameId, ea.Count + eb.Count, Math.Min(ea.First, eb.First), Math.Max(ea.Last, eb.Last));
                hasEa = a.NextEvent(out ea);
                hasEb = b.NextEvent(out eb);
            }
            if (!w.TryWriteEvent(e)) return -1;
            events++;
        }

        int used = w.Position;
        WriteHeader(destination, identifiers, traits, events, used, MasterId(current),
            Math.Max(LastSeq(current), LastSeq(delta)),
            Math.Min(CreatedAt(current), CreatedAt(delta)),
            Math.Max(UpdatedAt(current), UpdatedAt(delta)));
        return used;
    }

    /// <summary>Writes the fixed header.</summary>
    public static void WriteHeader(Span<byte> r, int identifiers, int traits, int events, int used,
        ulong masterId, ulong lastSeq, long createdAt, long updatedAt)
    {
        r[0] = FormatVersion;
        r[1] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(r[2..], checked((ushort)identifiers));
        BinaryPrimitives.WriteUInt16LittleEndian(r[4..], checked((ushort)traits));
        BinaryPrimitives.WriteUInt16LittleEndian(r[6..], checked((ushort)events));
        BinaryPrimitives.WriteUInt32LittleEndian(r[8..], (uint)used);
        BinaryPrimitives.WriteUInt32LittleEndian(r[12..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(r[16..], masterId);
        BinaryPrimitives.WriteUInt64LittleEndian(r[24..], lastSeq);
        BinaryPrimitives.WriteInt64LittleEndian(r[32..], createdAt);
        BinaryPrimitives.WriteInt64LittleEndian(r[40..], updatedAt);
    }

    static int CompareIdentifier(byte aType, ReadOnlySpan<byte> aValue, byte bType, ReadOnlySpan<byte> bValue)
    {
        int c = aType.CompareTo(bType);
        return c != 0 ? c : aValue.SequenceCompareTo(bValue);
    }
}

/// <summary>One event counter entry of a record.</summary>
public readonly record struct EventEntry(ushort NameId, ulong Count, long First, long Last)
{
    /// <summary>Encoded size.</summary>
    public const int Size = 2 + 8 + 8 + 8;
}

/// <summary>One trait entry of a record, as a view over its bytes.</summary>
public readonly ref struct TraitEntry
{
    /// <summary>Wraps the whole encoded entry.</summary>
    public TraitEntry(ReadOnlySpan<byte> raw) => Raw = raw;

    /// <summary>The whole encoded entry.</summary>
    public ReadOnlySpan<byte> Raw { get; }
    /// <summary>Interned name.</summary>
    public ushort NameId => BinaryPrimitives.ReadUInt16LittleEndian(Raw);
    /// <summary>Value type.</summary>
    public TraitKind Kind => (TraitKind)Raw[2];
    /// <summary>Event time of the value, Unix ms.</summary>
    public long Time => BinaryPrimitives.ReadInt64LittleEndian(Raw[3..]);
    /// <summary>The encoded value after the entry header.</summary>
    public ReadOnlySpan<byte> Payload => Raw[11..];
    /// <summary>Integer or timestamp payload.</summary>
    public long Integer => BinaryPrimitives.ReadInt64LittleEndian(Payload);
    /// <summary>Float payload.</summary>
    public double Number => BinaryPrimitives.ReadDoubleLittleEndian(Payload);
    /// <summary>String payload (UTF-8).</summary>
    public ReadOnlySpan<byte> Utf8 => Payload.Slice(2, BinaryPrimitives.ReadUInt16LittleEndian(Payload));
}

/// <summary>Walks a record's sections in order: identifiers, then traits, then events.</summary>
public ref struct ProfileRecordReader
{
    readonly ReadOnlySpan<byte> record;
    int identifiersLeft, traitsLeft, eventsLeft;

    /// <summary>Starts reading after the header.</summary>
    public ProfileRecordReader(ReadOnlySpan<byte> record)
    {
        this.record = record;
        identifiersLeft = ProfileRecord.IdentifierCount(record);
        traitsLeft = ProfileRecord.TraitCount(record);
        eventsLeft = ProfileRecord.EventCount(record);
        Position = ProfileRecord.HeaderSize;
    }

    /// <summary>Offset of the next entry.</summary>
    public int Position { get; private set; }

    /// <summary>Reads the next identifier; false once the section is done.</summary>
    public bool NextIdentifier(out byte type, out ReadOnlySpan<byte> value)
    {
        if (identifiersLeft == 0)
        {
            type = 0;
            value = default;
            return false;
        }
        identifiersLeft--;
        type = record[Position];
        int length = BinaryPrimitives.ReadUInt16LittleEndian(record[(Position + 1)..]);
        value = record.Slice(Position + 3, length);
        Position += 3 + length;
        return true;
    }

    /// <summary>Reads the next trait; false once the section is done. Skips identifiers left unread.</summary>
    public bool NextTrait(out TraitEntry trait)
    {
        while (NextIdentifier(out _, out _)) { }
        if (traitsLeft == 0)
        {
            trait = default;
            return false;
        }
        traitsLeft--;
        int start = Position;
        var kind = (TraitKind)record[start + 2];
        int p = start + 11;
        switch (kind)
        {
            case TraitKind.Null or TraitKind.False or TraitKind.True: break;
            case TraitKind.Int or TraitKind.Timestamp or TraitKind.Double: p += 8; break;
            case TraitKind.String: p += 2 + BinaryPrimitives.ReadUInt16LittleEndian(record[p..]); break;
            case TraitKind.StringList:
                int n = BinaryPrimitives.ReadUInt16LittleEndian(record[p..]);
                p += 2;
                for (int i = 0; i < n; i++)
                    p += 2 + BinaryPrimitives.ReadUInt16LittleEndian(record[p..]);
                break;
            default: throw new ArgumentOutOfRangeException(nameof(trait), $"unknown trait kind {kind}");
        }
        if (p > record.Length)
            throw new ArgumentOutOfRangeException(nameof(trait), "trait runs past the record");
        trait = new TraitEntry(record[start..p]);
        Position = p;
        return true;
    }

    /// <summary>Reads the next event counter; false once the section is done. Skips traits left unread.</summary>
    public bool NextEvent(out EventEntry entry)
    {
        while (NextTrait(out _)) { }
        if (eventsLeft == 0)
        {
            entry = default;
            return false;
        }
        eventsLeft--;
        var s = record[Position..];
        entry = new EventEntry(
            BinaryPrimitives.ReadUInt16LittleEndian(s),
            BinaryPrimitives.ReadUInt64LittleEndian(s[2..]),
            BinaryPrimitives.ReadInt64LittleEndian(s[10..]),
            BinaryPrimitives.ReadInt64LittleEndian(s[18..]));
        Position += EventEntry.Size;
        return true;
    }
}

/// <summary>Bounds-checked sequential writer over a span; every Try* returns false instead of overrunning.</summary>
public ref struct SpanWriter
{
    readonly Span<byte> buffer;

    /// <summary>Writes from the start of <paramref name="buffer"/>.</summary>
    public SpanWriter(Span<byte> buffer) => this.buffer = buffer;

    /// <summary>Bytes written so far.</summary>
    public int Position { get; private set; }

    /// <summary>Advances without writing (space reserved for a header).</summary>
    public void Skip(int count) => Position += count;

    /// <summary>Copies raw bytes.</summary>
    public bool TryWrite(ReadOnlySpan<byte> bytes)
    {
        if (!bytes.TryCopyTo(buffer[Position..]))
            return false;
        Position += bytes.Length;
        return true;
    }

    /// <summary>Writes an identifier entry.</summary>
    public bool TryWriteIdentifier(byte type, ReadOnlySpan<byte> value)
    {
        if (buffer.Length - Position < 3 + value.Length)
            return false;
        buffer[Position] = type;
        BinaryPrimitives.WriteUInt16LittleEndian(buffer[(Position + 1)..], (ushort)value.Length);
        value.CopyTo(buffer[(Position + 3)..]);
        Position += 3 + value.Length;
        return true;
    }

    /// <summary>Writes an event counter entry.</summary>
    public bool TryWriteEvent(in EventEntry e)
    {
        if (buffer.Length - Position < EventEntry.Size)
            return false;
        var s = buffer[Position..];
        BinaryPrimitives.WriteUInt16LittleEndian(s, e.NameId);
        BinaryPrimitives.WriteUInt64LittleEndian(s[2..], e.Count);
        BinaryPrimitives.WriteInt64LittleEndian(s[10..], e.First);
        BinaryPrimitives.WriteInt64LittleEndian(s[18..], e.Last);
        Position += EventEntry.Size;
        return true;
    }

    /// <summary>Writes a trait entry header (name, kind, time); the payload follows via the other writers.</summary>
    public bool TryWriteTraitHeader(ushort nameId, TraitKind kind, long time)
    {
        if (buffer.Length - Position < 11)
            return false;
        var s = buffer[Position..];
        BinaryPrimitives.WriteUInt16LittleEndian(s, nameId);
        s[2] = (byte)kind;
        BinaryPrimitives.WriteInt64LittleEndian(s[3..], time);
        Position += 11;
        return true;
    }

    /// <summary>Writes a little-endian i64.</summary>
    public bool TryWriteInt64(long value)
    {
        if (!BinaryPrimitives.TryWriteInt64LittleEndian(buffer[Position..], value))
            return false;
        Position += 8;
        return true;
    }

    /// <summary>Writes a little-endian f64.</summary>
    public bool TryWriteDouble(double value)
    {
        if (!BinaryPrimitives.TryWriteDoubleLittleEndian(buffer[Position..], value))
            return false;
        Position += 8;
        return true;
    }

    /// <summary>Writes a little-endian u16.</summary>
    public bool TryWriteUInt16(ushort value)
    {
        if (!BinaryPrimitives.TryWriteUInt16LittleEndian(buffer[Position..], value))
            return false;
        Position += 2;
        return true;
    }

    /// <summary>Writes a string as u16 length + UTF-8.</summary>
    public bool TryWriteString(string value)
    {
        int max = System.Text.Encoding.UTF8.GetMaxByteCount(value.Length);
        var s = buffer[Position..];
        if (s.Length < 2 + Math.Min(max, System.Text.Encoding.UTF8.GetByteCount(value)))
            return false;
        int n = System.Text.Encoding.UTF8.GetBytes(value, s[2..]);
        BinaryPrimitives.WriteUInt16LittleEndian(s, checked((ushort)n));
        Position += 2 + n;
        return true;
    }
}
