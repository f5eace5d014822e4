using System.Buffers.Binary;
using Cdp.Server.Computed;

namespace Cdp.Server.Profiles;

/// <summary>
/// The binary layout of a profile as it lives in the FASTER log: one contiguous span, little-endian,
/// with variable-length integers wherever values are usually small (memory per profile is a tracked figure).
/// </summary>
/// <remarks>
/// <code>
/// header (48 bytes)
///   0 u8  format version (6)       1 u8  history head side (formats 3 and 4: flags, always 0)
///   2 u16 identifier count         4 u16 trait count       6 u16 event count
///   8 u32 used length (header included; the FASTER value may be larger: spare capacity for in-place growth)
///  12 u16 computed-trait count    14 u16 offset of the events section, 0 when past 65,535
///         (format 4: u8 history head side, u8 reserved; format 3: reserved)
///  16 u64 history head: journal address of the profile's last entry, 0 = none (format 3: the master id,
///         which is also the key; format-3 heads are records of their own, see EngineSession.ReadHistoryHead)
///  24 u64 last applied sequence number
///  32 i64 created at (Unix ms; the "base" of the times below)    40 i64 updated at (Unix ms)
/// identifiers, sorted by (type, bytes):  u8 (type &lt;&lt; 5 | length) | UTF-8 value   when the type is 1-7 and the length 0-31
///                                        u8 0 | u8 type | varint length | UTF-8 value   otherwise
///     (formats 3-5, still read: u8 type | varint length | UTF-8 value)
/// traits, sorted by name id:             u8 tag | [varint name id] | [varint source id] | [zigzag(event time - base)] | payload
///     tag: bits 0-3 the kind, bit 4 (0x10) a source id follows (none: the write named no source),
///          bit 5 (0x20) a time follows (none: the event time is the base), bits 6-7 the name id as a
///          step of 1-3 from the previous trait's (the first trait steps from -1), 0 when the name id
///          follows as a varint. Names are interned in the order a schema first sends them, so a
///          profile's traits are mostly consecutive ids: a value written with the profile and never
///          changed costs one byte of header.
///     (format 5 and 4, still read: varint name id | u8 tag (bits 0-5 as above) | ...;
///      format 3: varint name id | u8 kind | varint (source id + 1, 0 = none) | zigzag(event time - base))
///     payload: none (null, false, true) | zigzag varint (int, timestamp as Unix ms) | f64 (double)
///              | varint length + UTF-8 (string) | varint count + (varint length + UTF-8)* (string list)
///              | varint id (shared string, kind 8) | varint count + (varint 2*length + UTF-8 | varint 2*id+1)*
///              (list with shared items, kind 9) | varint (zigzag(m) &lt;&lt; 3 | s) (decimal double m/10^s, kind 10);
///              see <see cref="StoredKind"/> and <see cref="SharedValueTable"/>
/// events, sorted by name id:             varint name id | varint count | zigzag(first - base) | varint (last - first)
/// computed, sorted by storage id:        varint storage id | varint state length | state (see <see cref="ComputedState"/>)
/// </code>
/// varint = unsigned LEB128; zigzag maps signed to unsigned so small magnitudes stay short. Payloads do
/// not depend on the base, so a merge copies them and re-encodes only the times.
/// A write is applied as a "delta" that has this very layout (see <see cref="ProfileRecordBuilder"/>),
/// and applying it is a merge of two records (<see cref="Merge"/>), so the same code will later
/// combine two whole profiles.
/// </remarks>
public static class ProfileRecord
{
    /// <summary>Record format version written; <see cref="Format5"/>, <see cref="Format4"/> and <see cref="PreviousFormatVersion"/> are still read.</summary>
    public const byte FormatVersion = 6;
    /// <summary>Format 5: as format 6, except that identifiers are never packed and every trait starts with its name id.</summary>
    public const byte Format5 = 5;
    /// <summary>Format 4: as format 5, except that byte 14 holds the history head's side and the events offset is unknown.</summary>
    public const byte Format4 = 4;
    /// <summary>Format 3: each trait's header has its kind byte, source and time always present, and the header holds no history head.</summary>
    public const byte PreviousFormatVersion = 3;

    /// <summary>Whether the record's header holds its history head (formats 4 to 6).</summary>
    public static bool HasHistoryHead(ReadOnlySpan<byte> r) => r[0] is FormatVersion or Format5 or Format4;

    /// <summary>Whether the record's header has the layout of format 5 and later (the head's side in byte 1, the events offset in byte 14).</summary>
    static bool HasEventsOffset(ReadOnlySpan<byte> r) => r[0] is FormatVersion or Format5;
    /// <summary>Size of the fixed header.</summary>
    public const int HeaderSize = 48;

    /// <summary>Number of identifiers.</summary>
    public static int IdentifierCount(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadUInt16LittleEndian(r[2..]);
    /// <summary>Number of traits.</summary>
    public static int TraitCount(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadUInt16LittleEndian(r[4..]);
    /// <summary>Number of event types.</summary>
    public static int EventCount(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadUInt16LittleEndian(r[6..]);
    /// <summary>Number of computed-trait states.</summary>
    public static int ComputedCount(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadUInt16LittleEndian(r[12..]);
    /// <summary>Bytes in use, header included.</summary>
    public static int UsedLength(ReadOnlySpan<byte> r) => (int)BinaryPrimitives.ReadUInt32LittleEndian(r[8..]);
    /// <summary>
    /// Journal address of the profile's last history entry; 0 when the record holds none (a format-3
    /// record, whose head is a store record of its own, or a profile written without history).
    /// </summary>
    public static long HistoryHeadAddress(ReadOnlySpan<byte> r) => HasHistoryHead(r) ? BinaryPrimitives.ReadInt64LittleEndian(r[16..]) : 0;
    /// <summary>Which side of its history entry the profile is (see <see cref="HistoryHeadAddress"/>).</summary>
    public static byte HistoryHeadSide(ReadOnlySpan<byte> r) => r[0] switch
    {
        FormatVersion or Format5 => r[1],
        Format4 => r[14],
        _ => 0,
    };

    /// <summary>
    /// Where the events section starts (formats 5 and 6), so a write that only counts events can go straight
    /// there (<see cref="TryMergeEventsInPlace"/>); 0 when unknown (formats 3 and 4, or a record past 65,535 bytes).
    /// </summary>
    public static int EventsOffset(ReadOnlySpan<byte> r) => HasEventsOffset(r) ? BinaryPrimitives.ReadUInt16LittleEndian(r[14..]) : 0;

    /// <summary>Points the history head of a record of format 4 or later at <paramref name="address"/>; changes nothing else.</summary>
    /// <remarks>A format-4 record is moved in its own layout: a replayed write the record already holds is not merged (and so not rewritten as format 5) before its head moves.</remarks>
    public static void SetHistoryHead(Span<byte> r, long address, byte side)
    {
        if (!HasHistoryHead(r))
            throw new ArgumentException($"a format-{r[0]} record has no history head field.", nameof(r));
        BinaryPrimitives.WriteInt64LittleEndian(r[16..], address);
        r[HasEventsOffset(r) ? 1 : 14] = side;
    }
    /// <summary>Sequence number of the last write applied.</summary>
    public static ulong LastSeq(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadUInt64LittleEndian(r[24..]);
    /// <summary>Creation time, Unix ms.</summary>
    public static long CreatedAt(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadInt64LittleEndian(r[32..]);
    /// <summary>Last update time, Unix ms.</summary>
    public static long UpdatedAt(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadInt64LittleEndian(r[40..]);

    /// <summary>First byte of an alias: the value left under a profile's key when it was merged into another.</summary>
    public const byte AliasMarker = 0xA1;
    /// <summary>Size of an alias value.</summary>
    public const int AliasSize = 16;

    /// <summary>Whether <paramref name="r"/> is an alias (the profile was merged into <see cref="AliasTarget"/>).</summary>
    public static bool IsAlias(ReadOnlySpan<byte> r) => r.Length >= AliasSize && r[0] == AliasMarker;

    /// <summary>The profile an alias points to.</summary>
    public static ulong AliasTarget(ReadOnlySpan<byte> r) => BinaryPrimitives.ReadUInt64LittleEndian(r[8..]);

    /// <summary>Writes an alias to <paramref name="target"/> (16 bytes: marker, 7 reserved, target master id).</summary>
    public static void WriteAlias(Span<byte> r, ulong target)
    {
        r[..AliasSize].Clear();
        r[0] = AliasMarker;
        BinaryPrimitives.WriteUInt64LittleEndian(r[8..], target);
    }

    /// <summary>Overwrites the last applied sequence number (a merged profile travels as a delta with the merging write's number).</summary>
    public static void SetLastSeq(Span<byte> r, ulong seq) => BinaryPrimitives.WriteUInt64LittleEndian(r[24..], seq);

    /// <summary>Most event counters a delta may carry for <see cref="TryMergeEventsInPlace"/>; more go through <see cref="Merge"/>.</summary>
    const int MaxInPlaceEvents = 8;

    /// <summary>
    /// Applies <paramref name="delta"/> to <paramref name="current"/> in place when it only counts events
    /// the profile already has, writing exactly the bytes <see cref="Merge"/> would (journal replay must
    /// reproduce the live bytes); false, with nothing changed, when any condition fails and the caller must merge.
    /// </summary>
    /// <remarks>
    /// The common track write names a known profile by identifiers it already holds and bumps a counter:
    /// a full merge decodes and re-encodes every trait to change a few bytes. Conditions: both records in
    /// this format; the delta has no traits and no computed states and the record has no computed states
    /// (a merge re-evaluates their windows); the delta is not older than the record's base time (a merge
    /// would re-encode every time against the earlier base); every identifier of the delta is already held;
    /// every event counter exists, is named once, and its new encoding has the old one's length.
    /// </remarks>
    public static bool TryMergeEventsInPlace(Span<byte> current, ReadOnlySpan<byte> delta)
    {
        if (current.Length < HeaderSize || delta.Length < HeaderSize || current[0] != FormatVersion || delta[0] != FormatVersion)
            return false;
        int deltaEvents = EventCount(delta);
        if (deltaEvents == 0 || deltaEvents > MaxInPlaceEvents || TraitCount(delta) != 0 || ComputedCount(delta) != 0
            || ComputedCount(current) != 0 || CreatedAt(delta) < CreatedAt(current))
            return false;
        // Identifiers and events only: no value is read, so no shared-value table.
        var a = new ProfileRecordReader(current[..UsedLength(current)], null);
        var b = new ProfileRecordReader(delta[..UsedLength(delta)], null);

        // Identifiers: sorted in both, so one pass checks that the delta's are a subset.
        bool hasA = a.NextIdentifier(out var aType, out var aValue);
        while (b.NextIdentifier(out var bType, out var bValue))
        {
            int cmp = -1;
            while (hasA && (cmp = CompareIdentifier(aType, aValue, bType, bValue)) < 0)
                hasA = a.NextIdentifier(out aType, out aValue);
            if (!hasA || cmp != 0)
                return false;
            // Matched: the next delta identifier must be a later one (a merge would write a repeat twice).
            hasA = a.NextIdentifier(out aType, out aValue);
        }
        // Straight to the events when the header says where they are (the traits need not be decoded).
        int eventsAt = EventsOffset(current);
        if (eventsAt != 0)
        {
            if (eventsAt < HeaderSize || eventsAt > UsedLength(current))
                return false;
            a.SkipToEvents(eventsAt);
        }
        else
            while (a.NextTrait(out _)) { }

        // Events: find each counter, encode its sum, and only write once every one fits its old length.
        Span<int> starts = stackalloc int[MaxInPlaceEvents];
        Span<byte> encoded = stackalloc byte[MaxInPlaceEvents * 4 * Varint.MaxLength];
        var w = new SpanWriter(encoded, CreatedAt(current));
        int found = 0, start = a.Position, previous = -1;
        bool hasEa = a.NextEvent(out var ea);
        while (b.NextEvent(out var eb))
        {
            // A counter named twice would be patched twice; a merge handles that, this does not.
            if (eb.NameId <= previous)
                return false;
            previous = eb.NameId;
            while (hasEa && ea.NameId < eb.NameId)
            {
                start = a.Position;
                hasEa = a.NextEvent(out ea);
            }
            if (!hasEa || ea.NameId != eb.NameId)
                return false;
            int before = w.Position;
            if (!w.TryWriteEvent(new EventEntry(ea.NameId, ea.Count + eb.Count, Math.Min(ea.First, eb.First), Math.Max(ea.Last, eb.Last)))
                || w.Position - before != a.Position - start)
                return false;
            starts[found++] = start;
        }
        int offset = 0;
        for (int i = 0; i < found; i++)
        {
            // Each new entry has the length of the one it replaces (checked above).
            int length = EventEntryLength(encoded[offset..]);
            encoded.Slice(offset, length).CopyTo(current[starts[i]..]);
            offset += length;
        }
        SetLastSeq(current, Math.Max(LastSeq(current), LastSeq(delta)));
        BinaryPrimitives.WriteInt64LittleEndian(current[40..], Math.Max(UpdatedAt(current), UpdatedAt(delta)));
        return true;
    }

    /// <summary>Length of the event entry at the start of <paramref name="s"/> (name, count, first, last).</summary>
    static int EventEntryLength(ReadOnlySpan<byte> s)
    {
        int p = 0;
        for (int field = 0; field < 4; field++)
        {
            Varint.Read(s[p..], out int n);
            p += n;
        }
        return p;
    }

    /// <summary>Checks that <paramref name="r"/> is a whole, well-formed record; guards every reader.</summary>
    public static bool IsValid(ReadOnlySpan<byte> r)
    {
        if (r.Length < HeaderSize || r[0] is not (FormatVersion or Format5 or Format4 or PreviousFormatVersion))
            return false;
        int used = UsedLength(r);
        if (used < HeaderSize || used > r.Length)
            return false;
        // Structure only: shared ids are checked when they are read (SharedValueTable.Get).
        var reader = new ProfileRecordReader(r[..used], null);
        try
        {
            while (reader.NextIdentifier(out _, out _)) { }
            while (reader.NextTrait(out _)) { }
            // A wrong events offset would make an in-place event count patch the wrong bytes.
            int eventsOffset = EventsOffset(r);
            if (eventsOffset != 0 && eventsOffset != reader.Position)
                return false;
            while (reader.NextComputed(out _, out _)) { }
            return reader.Position == used;
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or IndexOutOfRangeException or OverflowException)
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
    /// Identifiers are a set union; a trait keeps the value its <see cref="TraitSurvivorship"/> rule picks
    /// (by default the later event time, and on equal times the delta's: it is the later write); event
    /// counters add up, first/last take min/max.
    /// Every rule is commutative except the equal-time tie, which follows sequence order, so the
    /// journal replays to the same bytes the live path produced.
    /// </remarks>
    /// <para>
    /// Computed-trait states merge by <see cref="ComputedState.Merge"/> with the later of the two
    /// records' update times as "now", which drops buckets that left their window; states whose
    /// definition <paramref name="computed"/> no longer has are dropped.
    /// </para>
    public static int Merge(ReadOnlySpan<byte> current, ReadOnlySpan<byte> delta, Span<byte> destination, ComputedTraitCatalog computed, SharedValueTable? values, TraitSurvivorship? survivorship = null)
    {
        survivorship ??= TraitSurvivorship.Default;
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
        var a = new ProfileRecordReader(current[..UsedLength(current)], values);
        var b = new ProfileRecordReader(delta[..UsedLength(delta)], values);
        long createdAt = Math.Min(CreatedAt(current), CreatedAt(delta));
        var w = SpanWriter.ForRecord(destination, createdAt);
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

        // Traits: by name id; which value survives is the trait's survivorship rule (default: the
        // later event time, the delta on ties).
        int traits = 0;
        bool hasTa = a.NextTrait(out var ta), hasTb = b.NextTrait(out var tb);
        while (hasTa || hasTb)
        {
            int cmp = !hasTa ? 1 : !hasTb ? -1 : ta.NameId.CompareTo(tb.NameId);
            if (cmp < 0) { if (!w.TryWriteTrait(ta)) return -1; hasTa = a.NextTrait(out ta); }
            else if (cmp > 0) { if (!w.TryWriteTrait(tb)) return -1; hasTb = b.NextTrait(out tb); }
            else
            {
                if (!survivorship.Write(ref w, ta, tb)) return -1;
                hasTa = a.NextTrait(out ta);
                hasTb = b.NextTrait(out tb);
            }
            traits++;
        }

        // Events: counters add up, first/last widen.
        int eventsOffset = w.Position;
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

        // Computed states: merged per definition, as of the later update time.
        long now = Math.Max(UpdatedAt(current), UpdatedAt(delta));
        int computedCount = 0;
        bool hasCa = a.NextComputed(out var caId, out var ca), hasCb = b.NextComputed(out var cbId, out var cb);
        while (hasCa || hasCb)
        {
            int cmp = !hasCa ? 1 : !hasCb ? -1 : caId.CompareTo(cbId);
            ushort id = cmp <= 0 ? caId : cbId;
            var left = cmp <= 0 ? ca : default;
            var right = cmp >= 0 ? cb : default;
            if (cmp <= 0) hasCa = a.NextComputed(out caId, out ca);
            if (cmp >= 0) hasCb = b.NextComputed(out cbId, out cb);
            if (computed.ByStorageId(id) is not { } definition)
                continue;
            int mark = w.Position;
            if (!w.TryWriteVarint(id))
                return -1;
            var written = ComputedState.Merge(definition, left, right, now, ref w);
            if (written < 0)
                return -1;
            if (written == 0)
                w.Rewind(mark);
            else
                computedCount++;
        }

        // Counts are u16 in the header: a merge past that is refused like one past the size limit.
        if (identifiers > ushort.MaxValue || traits > ushort.MaxValue || events > ushort.MaxValue || computedCount > ushort.MaxValue)
            return -1;
        int used = w.Position;
        // The head belongs to the profile being written (current); the engine moves it after the append.
        WriteHeader(destination, identifiers, traits, events, computedCount, used, HistoryHeadAddress(current), HistoryHeadSide(current),
            Math.Max(LastSeq(current), LastSeq(delta)),
            createdAt,
            Math.Max(UpdatedAt(current), UpdatedAt(delta)), eventsOffset);
        return used;
    }

    /// <summary>Writes the fixed header.</summary>
    public static void WriteHeader(Span<byte> r, int identifiers, int traits, int events, int computed, int used,
        long historyHead, byte historySide, ulong lastSeq, long createdAt, long updatedAt, int eventsOffset)
    {
        r[0] = FormatVersion;
        r[1] = historySide;
        BinaryPrimitives.WriteUInt16LittleEndian(r[2..], checked((ushort)identifiers));
        BinaryPrimitives.WriteUInt16LittleEndian(r[4..], checked((ushort)traits));
        BinaryPrimitives.WriteUInt16LittleEndian(r[6..], checked((ushort)events));
        BinaryPrimitives.WriteUInt32LittleEndian(r[8..], (uint)used);
        BinaryPrimitives.WriteUInt16LittleEndian(r[12..], checked((ushort)computed));
        BinaryPrimitives.WriteUInt16LittleEndian(r[14..], eventsOffset <= ushort.MaxValue ? (ushort)eventsOffset : (ushort)0);
        BinaryPrimitives.WriteInt64LittleEndian(r[16..], historyHead);
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
public readonly record struct EventEntry(ushort NameId, ulong Count, long First, long Last);

/// <summary>One trait of a record: its decoded name, kind and time, and a view over its payload.</summary>
public readonly ref struct TraitEntry
{
    readonly SharedValueTable? values;

    /// <summary>Wraps a decoded entry whose payload is stored as <paramref name="kind"/> itself.</summary>
    public TraitEntry(ushort nameId, TraitKind kind, long time, ReadOnlySpan<byte> payload, int source = -1)
        : this(nameId, (byte)kind, time, payload, source, null)
    {
    }

    /// <summary>Wraps a decoded entry stored as <paramref name="storedKind"/> (<see cref="Profiles.StoredKind"/>); <paramref name="values"/> resolves shared values.</summary>
    public TraitEntry(ushort nameId, byte storedKind, long time, ReadOnlySpan<byte> payload, int source, SharedValueTable? values)
    {
        NameId = nameId;
        StoredKind = storedKind;
        Source = source;
        Time = time;
        Payload = payload;
        this.values = values;
    }

    /// <summary>Interned name.</summary>
    public ushort NameId { get; }
    /// <summary>Value type (a shared string reads as <see cref="TraitKind.String"/>).</summary>
    public TraitKind Kind => Profiles.StoredKind.Logical(StoredKind);
    /// <summary>How the payload is encoded: a <see cref="TraitKind"/> or a <see cref="Profiles.StoredKind"/> constant. Copying an entry copies this with the payload.</summary>
    public byte StoredKind { get; }
    /// <summary>Interned name of the source that wrote the value; -1 when the write named none.</summary>
    public int Source { get; }
    /// <summary>Event time of the value, Unix ms.</summary>
    public long Time { get; }
    /// <summary>The encoded value (independent of the record's base time); see <see cref="StoredKind"/> for its encoding.</summary>
    public ReadOnlySpan<byte> Payload { get; }
    /// <summary>Integer or timestamp payload.</summary>
    public long Integer => Varint.ReadZigZag(Payload, out _);
    /// <summary>Float payload.</summary>
    public double Number => StoredKind == Profiles.StoredKind.DecimalDouble ? Profiles.StoredKind.DecodeDecimal(Payload) : BinaryPrimitives.ReadDoubleLittleEndian(Payload);
    /// <summary>String payload (UTF-8), from the record or from the shared-value table.</summary>
    public ReadOnlySpan<byte> Utf8
    {
        get
        {
            if (StoredKind == Profiles.StoredKind.SharedString)
                return Table.Get(checked((int)Varint.Read(Payload, out _)));
            int length = (int)Varint.Read(Payload, out int n);
            return Payload.Slice(n, length);
        }
    }
    /// <summary>The items of a string-list payload.</summary>
    public StringListReader List => StoredKind == Profiles.StoredKind.SharedStringList ? new(Payload, Table) : new(Payload);

    SharedValueTable Table => values ?? throw new InvalidOperationException("a record with shared values was read without the shared-value table.");
}

/// <summary>Walks the items of a string-list payload.</summary>
public ref struct StringListReader
{
    ReadOnlySpan<byte> rest;
    readonly SharedValueTable? shared;

    /// <summary>Starts at the item count of a list stored as <see cref="TraitKind.StringList"/>.</summary>
    public StringListReader(ReadOnlySpan<byte> payload)
    {
        Count = (int)Varint.Read(payload, out int n);
        rest = payload[n..];
    }

    /// <summary>Starts at the item count of a list stored as <see cref="StoredKind.SharedStringList"/>.</summary>
    public StringListReader(ReadOnlySpan<byte> payload, SharedValueTable shared) : this(payload)
    {
        this.shared = shared;
    }

    /// <summary>Number of items.</summary>
    public int Count { get; }

    /// <summary>Reads the next item.</summary>
    public bool Next(out ReadOnlySpan<byte> item)
    {
        if (rest.IsEmpty)
        {
            item = default;
            return false;
        }
        ulong h = Varint.Read(rest, out int n);
        if (shared is null)
        {
            int length = (int)h;
            item = rest.Slice(n, length);
            rest = rest[(n + length)..];
        }
        else if ((h & 1) != 0)
        {
            item = shared.Get(checked((int)(h >> 1)));
            rest = rest[n..];
        }
        else
        {
            int length = (int)(h >> 1);
            item = rest.Slice(n, length);
            rest = rest[(n + length)..];
        }
        return true;
    }
}

/// <summary>LEB128 variable-length integers, and zigzag for signed ones.</summary>
public static class Varint
{
    /// <summary>Largest encoded size of a 64-bit value.</summary>
    public const int MaxLength = 10;

    /// <summary>Reads an unsigned varint; <paramref name="length"/> gets its encoded size.</summary>
    public static ulong Read(ReadOnlySpan<byte> source, out int length)
    {
        ulong value = 0;
        int shift = 0;
        for (int i = 0; i < MaxLength; i++)
        {
            byte b = source[i];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                length = i + 1;
                return value;
            }
            shift += 7;
        }
        throw new ArgumentOutOfRangeException(nameof(source), "varint longer than 10 bytes");
    }

    /// <summary>Reads a zigzag-encoded signed varint.</summary>
    public static long ReadZigZag(ReadOnlySpan<byte> source, out int length)
    {
        ulong u = Read(source, out length);
        return (long)(u >> 1) ^ -(long)(u & 1);
    }

    /// <summary>Writes an unsigned varint; returns its size, or 0 when it does not fit.</summary>
    public static int Write(Span<byte> destination, ulong value)
    {
        int i = 0;
        while (value >= 0x80)
        {
            if (i >= destination.Length) return 0;
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        if (i >= destination.Length) return 0;
        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>Zigzag-encodes a signed value.</summary>
    public static ulong ZigZag(long value) => (ulong)((value << 1) ^ (value >> 63));
}

/// <summary>Walks a record's sections in order: identifiers, then traits, then events.</summary>
public ref struct ProfileRecordReader
{
    readonly ReadOnlySpan<byte> record;
    readonly long timeBase;
    readonly bool previousFormat;
    // Format 6: packed identifiers and trait names as steps (see ProfileRecord's layout).
    readonly bool compact;
    readonly SharedValueTable? values;
    int identifiersLeft, traitsLeft, eventsLeft, computedLeft;
    int lastTraitName;

    /// <summary>
    /// Starts reading after the header. <paramref name="values"/> resolves the record's shared trait
    /// values (<see cref="SharedValueTable"/>); a walk that reads no string payloads may pass null.
    /// </summary>
    public ProfileRecordReader(ReadOnlySpan<byte> record, SharedValueTable? values)
    {
        this.record = record;
        this.values = values;
        timeBase = ProfileRecord.CreatedAt(record);
        previousFormat = record[0] == ProfileRecord.PreviousFormatVersion;
        compact = record[0] == ProfileRecord.FormatVersion;
        lastTraitName = -1;
        identifiersLeft = ProfileRecord.IdentifierCount(record);
        traitsLeft = ProfileRecord.TraitCount(record);
        eventsLeft = ProfileRecord.EventCount(record);
        computedLeft = ProfileRecord.ComputedCount(record);
        Position = ProfileRecord.HeaderSize;
    }

    /// <summary>Offset of the next entry.</summary>
    public int Position { get; private set; }

    /// <summary>Moves to the events section at <paramref name="offset"/> (<see cref="ProfileRecord.EventsOffset"/>), leaving identifiers and traits unread.</summary>
    public void SkipToEvents(int offset)
    {
        identifiersLeft = 0;
        traitsLeft = 0;
        Position = offset;
    }

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
        int p = Position;
        byte first = record[p++];
        int length;
        if (compact && first >> 5 != 0)
        {
            type = (byte)(first >> 5);
            length = first & 0x1F;
        }
        else
        {
            // Format 6's escape is exactly 0: other bytes below 0x20 are damage, not another spelling.
            if (compact && first != 0)
                throw new ArgumentOutOfRangeException(nameof(record), $"identifier header 0x{first:x2} is neither packed nor the escape");
            type = compact ? record[p++] : first;
            length = checked((int)Varint.Read(record[p..], out int n));
            p += n;
        }
        value = record.Slice(p, length);
        Position = p + length;
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
        int length;
        if (compact)
            trait = TraitPayload.ReadRecordEntry(record[Position..], timeBase, values, ref lastTraitName, out length);
        else
            trait = previousFormat
                ? TraitPayload.ReadPreviousEntry(record[Position..], timeBase, out length)
                : TraitPayload.ReadEntry(record[Position..], timeBase, values, out length);
        Position += length;
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
        ushort nameId = checked((ushort)Varint.Read(s, out int p));
        ulong count = Varint.Read(s[p..], out int n);
        p += n;
        long first = timeBase + Varint.ReadZigZag(s[p..], out n);
        p += n;
        long last = first + (long)Varint.Read(s[p..], out n);
        p += n;
        entry = new EventEntry(nameId, count, first, last);
        Position += p;
        return true;
    }

    /// <summary>Reads the next computed-trait state (its storage id and bytes); false once the section is done. Skips events left unread.</summary>
    public bool NextComputed(out ushort storageId, out ReadOnlySpan<byte> state)
    {
        while (NextEvent(out _)) { }
        if (computedLeft == 0)
        {
            storageId = 0;
            state = default;
            return false;
        }
        computedLeft--;
        var s = record[Position..];
        storageId = checked((ushort)Varint.Read(s, out int p));
        int length = checked((int)Varint.Read(s[p..], out int n));
        p += n;
        state = s.Slice(p, length);
        Position += p + length;
        return true;
    }
}

/// <summary>Bounds-checked sequential writer over a span; every Try* returns false instead of overrunning.</summary>
public ref struct SpanWriter
{
    readonly Span<byte> buffer;
    readonly long timeBase;
    // Writing a record body of the current format: packed identifiers, trait names as steps.
    readonly bool compact;
    int lastTraitName;

    /// <summary>
    /// Writes from the start of <paramref name="buffer"/>; times are encoded relative to <paramref name="timeBase"/>.
    /// Identifiers and trait headers take the format-5 layout, which needs no context to read
    /// (<see cref="TraitPayload.ReadEntry(ReadOnlySpan{byte}, long, out int)"/>): for scratch buffers of single entries.
    /// </summary>
    public SpanWriter(Span<byte> buffer, long timeBase) : this(buffer, timeBase, compact: false)
    {
    }

    SpanWriter(Span<byte> buffer, long timeBase, bool compact)
    {
        this.buffer = buffer;
        this.timeBase = timeBase;
        this.compact = compact;
        lastTraitName = -1;
    }

    /// <summary>
    /// A writer of a record body in <see cref="ProfileRecord.FormatVersion"/>: identifiers packed, each
    /// trait's name written as a step from the previous one, so traits must come in the record's order.
    /// </summary>
    public static SpanWriter ForRecord(Span<byte> buffer, long timeBase) => new(buffer, timeBase, compact: true);

    /// <summary>Bytes written so far.</summary>
    public int Position { get; private set; }

    /// <summary>Advances without writing (space reserved for a header).</summary>
    public void Skip(int count) => Position += count;

    /// <summary>Goes back to an earlier position, dropping what was written after it.</summary>
    public void Rewind(int position) => Position = position;

    /// <summary>The whole destination (for writers that move what they wrote).</summary>
    public readonly Span<byte> Buffer => buffer;

    /// <summary>Bytes left.</summary>
    public readonly int Remaining => buffer.Length - Position;

    /// <summary>Copies raw bytes.</summary>
    public bool TryWrite(scoped ReadOnlySpan<byte> bytes)
    {
        if (!bytes.TryCopyTo(buffer[Position..]))
            return false;
        Position += bytes.Length;
        return true;
    }

    /// <summary>Writes a byte.</summary>
    public bool TryWriteByte(byte value)
    {
        if (Position >= buffer.Length)
            return false;
        buffer[Position++] = value;
        return true;
    }

    /// <summary>Writes an unsigned varint.</summary>
    public bool TryWriteVarint(ulong value)
    {
        int n = Varint.Write(buffer[Position..], value);
        Position += n;
        return n > 0;
    }

    /// <summary>Writes a zigzag signed varint.</summary>
    public bool TryWriteZigZag(long value) => TryWriteVarint(Varint.ZigZag(value));

    /// <summary>Writes bytes behind their varint length.</summary>
    public bool TryWriteLengthPrefixed(scoped ReadOnlySpan<byte> bytes) => TryWriteVarint((ulong)bytes.Length) && TryWrite(bytes);

    /// <summary>Writes an identifier entry.</summary>
    public bool TryWriteIdentifier(byte type, scoped ReadOnlySpan<byte> value)
    {
        if (!compact)
            return TryWriteByte(type) && TryWriteLengthPrefixed(value);
        // An e-mail address, phone number or user id of up to 31 bytes costs one byte of header.
        if (type is >= 1 and <= 7 && value.Length <= 0x1F)
            return TryWriteByte((byte)(type << 5 | value.Length)) && TryWrite(value);
        return TryWriteByte(0) && TryWriteByte(type) && TryWriteLengthPrefixed(value);
    }

    /// <summary>Writes an event counter entry.</summary>
    public bool TryWriteEvent(in EventEntry e)
        => TryWriteVarint(e.NameId) && TryWriteVarint(e.Count) && TryWriteZigZag(e.First - timeBase) && TryWriteVarint((ulong)(e.Last - e.First));

    /// <summary>Writes a trait entry header (name, tag, source and time when they are not the defaults); the payload follows via the other writers.</summary>
    public bool TryWriteTraitHeader(ushort nameId, TraitKind kind, long time, int source) => TryWriteTraitHeader(nameId, (byte)kind, time, source);

    /// <summary>As above, for a payload stored as <paramref name="storedKind"/> (<see cref="StoredKind"/>).</summary>
    public bool TryWriteTraitHeader(ushort nameId, byte storedKind, long time, int source)
    {
        byte tag = storedKind;
        if (source >= 0)
            tag |= TraitPayload.HasSource;
        if (time != timeBase)
            tag |= TraitPayload.HasTime;
        bool header;
        if (compact)
        {
            int step = nameId - lastTraitName;
            lastTraitName = nameId;
            header = step is >= 1 and <= TraitPayload.MaxNameStep
                ? TryWriteByte((byte)(tag | step << TraitPayload.NameStepShift))
                : TryWriteByte(tag) && TryWriteVarint(nameId);
        }
        else
            header = TryWriteVarint(nameId) && TryWriteByte(tag);
        return header
            && (source < 0 || TryWriteVarint((ulong)source))
            && (time == timeBase || TryWriteZigZag(time - timeBase));
    }

    /// <summary>Writes a whole trait read from another record (its payload is copied as is).</summary>
    public bool TryWriteTrait(in TraitEntry trait) => TryWriteTraitHeader(trait.NameId, trait.StoredKind, trait.Time, trait.Source) && TryWrite(trait.Payload);

    /// <summary>Writes a little-endian f64.</summary>
    public bool TryWriteDouble(double value)
    {
        if (!BinaryPrimitives.TryWriteDoubleLittleEndian(buffer[Position..], value))
            return false;
        Position += 8;
        return true;
    }

    /// <summary>Writes a string as varint length + UTF-8.</summary>
    public bool TryWriteString(string value)
    {
        int length = System.Text.Encoding.UTF8.GetByteCount(value);
        if (!TryWriteVarint((ulong)length) || buffer.Length - Position < length)
            return false;
        Position += System.Text.Encoding.UTF8.GetBytes(value, buffer[Position..]);
        return true;
    }
}

/// <summary>Decoding of trait entries and value payloads, shared by records and computed-trait states.</summary>
public static class TraitPayload
{
    /// <summary>Length of a payload of <paramref name="kind"/> at the start of <paramref name="s"/>; throws when it runs past the end.</summary>
    public static int Length(TraitKind kind, ReadOnlySpan<byte> s) => Length((byte)kind, s);

    /// <summary>Length of a payload stored as <paramref name="storedKind"/> (<see cref="StoredKind"/>); throws when it runs past the end.</summary>
    public static int Length(byte storedKind, ReadOnlySpan<byte> s)
    {
        int p = 0, n;
        switch (storedKind)
        {
            case StoredKind.SharedString or StoredKind.DecimalDouble: Varint.Read(s, out n); p += n; break;
            case StoredKind.SharedStringList:
                int shared = (int)Varint.Read(s, out n);
                p += n;
                for (int i = 0; i < shared; i++)
                {
                    ulong h = Varint.Read(s[p..], out n);
                    p += n + ((h & 1) != 0 ? 0 : checked((int)(h >> 1)));
                }
                break;
            case (byte)TraitKind.Null or (byte)TraitKind.False or (byte)TraitKind.True: break;
            case (byte)TraitKind.Int or (byte)TraitKind.Timestamp: Varint.Read(s, out n); p += n; break;
            case (byte)TraitKind.Double: p += 8; break;
            case (byte)TraitKind.String:
                int length = (int)Varint.Read(s, out n);
                p += n + length;
                break;
            case (byte)TraitKind.StringList:
                int count = (int)Varint.Read(s, out n);
                p += n;
                for (int i = 0; i < count; i++)
                {
                    int itemLength = (int)Varint.Read(s[p..], out n);
                    p += n + itemLength;
                }
                break;
            default: throw new ArgumentOutOfRangeException(nameof(storedKind), $"unknown trait kind {storedKind}");
        }
        if (p > s.Length)
            throw new ArgumentOutOfRangeException(nameof(s), "value runs past the record");
        return p;
    }

    /// <summary>Tag bit: a source id follows the tag.</summary>
    public const byte HasSource = 0x10;
    /// <summary>Tag bit: an event time (zigzag, relative to the base) follows.</summary>
    public const byte HasTime = 0x20;
    const byte KindMask = 0x0F;
    const byte KnownTagBits = KindMask | HasSource | HasTime;
    /// <summary>Where a format-6 tag keeps the step from the previous trait's name id (bits 6-7; 0: the name id follows).</summary>
    internal const int NameStepShift = 6;
    /// <summary>Largest step a format-6 tag holds.</summary>
    internal const int MaxNameStep = 3;

    /// <summary>Reads a trait entry (name, tag, optional source and time, payload) at the start of <paramref name="s"/>, which holds no shared values.</summary>
    public static TraitEntry ReadEntry(ReadOnlySpan<byte> s, long timeBase, out int length) => ReadEntry(s, timeBase, null, out length);

    /// <summary>Reads a trait entry (name, tag, optional source and time, payload) at the start of <paramref name="s"/>; <paramref name="values"/> resolves its shared values.</summary>
    public static TraitEntry ReadEntry(ReadOnlySpan<byte> s, long timeBase, SharedValueTable? values, out int length)
    {
        ushort nameId = checked((ushort)Varint.Read(s, out int p));
        byte tag = s[p++];
        if ((tag & ~KnownTagBits) != 0)
            throw new ArgumentOutOfRangeException(nameof(s), $"unknown trait tag bits 0x{tag:x2}");
        return ReadAfterName(s, p, tag, nameId, timeBase, values, out length);
    }

    /// <summary>
    /// Reads a trait entry of a format-6 record (tag, name id as a step from <paramref name="lastName"/> or
    /// a varint, optional source and time, payload); <paramref name="lastName"/> moves to its name id.
    /// </summary>
    public static TraitEntry ReadRecordEntry(ReadOnlySpan<byte> s, long timeBase, SharedValueTable? values, scoped ref int lastName, out int length)
    {
        byte tag = s[0];
        int p = 1;
        int step = tag >> NameStepShift;
        ushort nameId;
        if (step != 0)
            nameId = checked((ushort)(lastName + step));
        else
        {
            nameId = checked((ushort)Varint.Read(s[p..], out int n));
            p += n;
        }
        lastName = nameId;
        return ReadAfterName(s, p, (byte)(tag & KnownTagBits), nameId, timeBase, values, out length);
    }

    /// <summary>The rest of a trait entry once its name and tag are read, from <paramref name="p"/>: optional source and time, then the payload.</summary>
    static TraitEntry ReadAfterName(ReadOnlySpan<byte> s, int p, byte tag, ushort nameId, long timeBase, SharedValueTable? values, out int length)
    {
        byte kind = (byte)(tag & KindMask);
        int source = -1, n;
        if ((tag & HasSource) != 0)
        {
            source = checked((int)Varint.Read(s[p..], out n));
            p += n;
        }
        long time = timeBase;
        if ((tag & HasTime) != 0)
        {
            time += Varint.ReadZigZag(s[p..], out n);
            p += n;
        }
        int payloadLength = Length(kind, s[p..]);
        length = p + payloadLength;
        return new TraitEntry(nameId, kind, time, s.Slice(p, payloadLength), source, values);
    }

    /// <summary>Reads a trait entry of a format-3 record (source and time always present).</summary>
    public static TraitEntry ReadPreviousEntry(ReadOnlySpan<byte> s, long timeBase, out int length)
    {
        ushort nameId = checked((ushort)Varint.Read(s, out int p));
        var kind = (TraitKind)s[p++];
        int source = checked((int)Varint.Read(s[p..], out int n)) - 1;
        p += n;
        long time = timeBase + Varint.ReadZigZag(s[p..], out n);
        p += n;
        int payloadLength = Length(kind, s[p..]);
        length = p + payloadLength;
        return new TraitEntry(nameId, kind, time, s.Slice(p, payloadLength), source);
    }
}
