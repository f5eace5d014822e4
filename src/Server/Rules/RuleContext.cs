using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Cdp.Server.Computed;
using Cdp.Server.Profiles;

namespace Cdp.Server.Rules;

/// <summary>
/// One profile as rules see it, at one instant. Owned by a session and reused for every evaluation:
/// field values are found once per evaluation (one pass over the record for traits, one evaluation of
/// the computed values when a rule first reads one) and kept in slots, so evaluating many rules over
/// the same profile reads each field once and allocates nothing.
/// </summary>
public sealed class RuleContext
{
    struct Slot
    {
        public int Stamp;
        public TraitKind Kind;
        public long Integer;
        public double Number;
        public int Offset;
        public int Length;
        /// <summary>Where Offset points when not into the record: a shared value, or <see cref="listScratch"/>.</summary>
        public byte[]? Owner;
    }

    readonly RuleFieldSlots fields;
    readonly ComputedTraitCatalog catalog;
    readonly SharedValueTable values;
    Slot[] traitSlots = [];
    // Lists with shared items, re-encoded as plain lists (what comparisons and literals use) for this evaluation.
    byte[] listScratch = new byte[256];
    int listScratchUsed;
    Slot[] computedSlots = [];
    byte[] record = [];
    int recordLength;
    byte[] computedBuffer = [];
    int stamp;
    bool traitsRead;
    bool computedRead;
    long nextChange = -1;
    Func<long, ReadOnlyMemory<byte>>? evaluateComputed;
    Func<int, bool>? memberOf;

    /// <summary>Creates a context over the shared slot assignment.</summary>
    public RuleContext(RuleFieldSlots fields, ComputedTraitCatalog catalog, SharedValueTable values)
    {
        this.fields = fields;
        this.catalog = catalog;
        this.values = values;
    }

    /// <summary>The instant rules are evaluated at, Unix ms.</summary>
    public long Now { get; private set; }

    /// <summary>The master id of the profile.</summary>
    public ulong ProfileId { get; private set; }

    /// <summary>
    /// Starts an evaluation over <paramref name="recordBytes"/> (the first <paramref name="length"/>
    /// bytes) at <paramref name="now"/>. <paramref name="computed"/> evaluates the computed values of
    /// that record at a given time into a buffer of catalog-indexed trait entries; <paramref name="member"/>
    /// answers <c>in_segment</c> by segment index.
    /// </summary>
    public void Begin(ulong profileId, byte[] recordBytes, int length, long now, Func<long, ReadOnlyMemory<byte>> computed, Func<int, bool> member)
    {
        ProfileId = profileId;
        record = recordBytes;
        recordLength = length;
        Now = now;
        evaluateComputed = computed;
        memberOf = member;
        traitsRead = false;
        computedRead = false;
        listScratchUsed = 0;
        nextChange = -1;
        if (++stamp == int.MaxValue)
        {
            stamp = 1;
            Array.Clear(traitSlots);
            Array.Clear(computedSlots);
        }
    }

    /// <summary>The record being evaluated.</summary>
    public ReadOnlySpan<byte> Record => record.AsSpan(0, recordLength);

    /// <summary>Whether the profile is in the segment at <paramref name="segmentIndex"/> as far as this evaluation knows.</summary>
    public bool IsMember(int segmentIndex) => memberOf!(segmentIndex);

    /// <summary>When the record's computed or derived values next change with time alone (computed once per evaluation).</summary>
    public long RecordNextChange
    {
        get
        {
            if (nextChange < 0)
                nextChange = catalog.NextChange(Record, Now);
            return nextChange;
        }
    }

    /// <summary>Reads the trait in slot <paramref name="slot"/>.</summary>
    public RuleValue Trait(int slot)
    {
        if (!traitsRead)
            ReadTraits();
        if (slot >= traitSlots.Length || traitSlots[slot].Stamp != stamp)
            return default;
        ref var s = ref traitSlots[slot];
        return new RuleValue { Kind = s.Kind, Integer = s.Integer, Number = s.Number, Bytes = (s.Owner ?? record).AsSpan(s.Offset, s.Length) };
    }

    /// <summary>Reads the computed or derived value at catalog index <paramref name="index"/>.</summary>
    public RuleValue Computed(int index)
    {
        if (!computedRead)
            ReadComputed();
        if (index >= computedSlots.Length || computedSlots[index].Stamp != stamp)
            return default;
        ref var s = ref computedSlots[index];
        return new RuleValue { Kind = s.Kind, Integer = s.Integer, Number = s.Number, Bytes = computedBuffer.AsSpan(s.Offset, s.Length) };
    }

    void ReadTraits()
    {
        traitsRead = true;
        var slotOf = fields.TraitSlotsByName;
        if (traitSlots.Length < fields.TraitCount)
            Array.Resize(ref traitSlots, Math.Max(fields.TraitCount, traitSlots.Length * 2));
        var span = Record;
        var r = new ProfileRecordReader(span, values);
        while (r.NextTrait(out var t))
        {
            if (t.NameId >= slotOf.Length || slotOf[t.NameId] is var slot && slot < 0)
                continue;
            Fill(ref traitSlots[slot], t, span);
        }
    }

    void ReadComputed()
    {
        computedRead = true;
        if (computedSlots.Length < catalog.Count)
            computedSlots = new Slot[catalog.Count];
        var values = evaluateComputed!(Now);
        if (!MemoryMarshal.TryGetArray(values, out var segment) || segment.Array is null)
            throw new InvalidOperationException("computed values must be backed by an array.");
        computedBuffer = segment.Array;
        var span = values.Span;
        int offset = 0;
        while (offset < span.Length)
        {
            var t = TraitPayload.ReadEntry(span[offset..], 0, out int length);
            offset += length;
            if (t.NameId < computedSlots.Length)
                Fill(ref computedSlots[t.NameId], t, computedBuffer);
        }
    }

    void Fill(ref Slot s, in TraitEntry t, ReadOnlySpan<byte> owner)
    {
        s.Stamp = stamp;
        s.Kind = t.Kind;
        s.Integer = 0;
        s.Number = 0;
        s.Offset = 0;
        s.Length = 0;
        s.Owner = null;
        switch (t.StoredKind)
        {
            case StoredKind.SharedString:
                s.Owner = values.Get(checked((int)Varint.Read(t.Payload, out _)));
                s.Length = s.Owner.Length;
                return;
            case StoredKind.SharedStringList:
                CopyAsPlainList(ref s, t);
                return;
        }
        switch (t.Kind)
        {
            case TraitKind.Int:
            case TraitKind.Timestamp:
                s.Integer = t.Integer;
                break;
            case TraitKind.Double:
                s.Number = t.Number;
                break;
            case TraitKind.String:
                SetBytes(ref s, t.Utf8, owner);
                break;
            case TraitKind.StringList:
                SetBytes(ref s, t.Payload, owner);
                break;
        }
    }

    void CopyAsPlainList(ref Slot s, in TraitEntry t)
    {
        var list = t.List;
        int size = Varint.MaxLength;
        var sizing = list;
        while (sizing.Next(out var item))
            size += Varint.MaxLength + item.Length;
        if (listScratch.Length - listScratchUsed < size)
            Array.Resize(ref listScratch, Math.Max(listScratch.Length * 2, listScratchUsed + size));
        var w = new SpanWriter(listScratch.AsSpan(listScratchUsed), 0);
        w.TryWriteVarint((ulong)list.Count);
        while (list.Next(out var item))
            w.TryWriteLengthPrefixed(item);
        s.Owner = listScratch;
        s.Offset = listScratchUsed;
        s.Length = w.Position;
        listScratchUsed += w.Position;
    }

    static void SetBytes(ref Slot s, ReadOnlySpan<byte> part, ReadOnlySpan<byte> owner)
    {
        s.Offset = part.IsEmpty ? 0 : (int)Unsafe.ByteOffset(ref MemoryMarshal.GetReference(owner), ref MemoryMarshal.GetReference(part));
        s.Length = part.Length;
    }
}
