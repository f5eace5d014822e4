using System.Text;
using Cdp.Server.Computed;

namespace Cdp.Server.Profiles;

/// <summary>
/// Builds the delta record of one write (same layout as <see cref="ProfileRecord"/>), sorting its
/// entries as the merge expects. One builder per engine session; its buffer is reused.
/// </summary>
public sealed class ProfileRecordBuilder
{
    readonly List<(byte Type, byte[] Value)> identifiers = [];
    // Shared: a string's shared-value id, or where a list's item ids start in itemIds; -1: none shared.
    readonly List<(ushort NameId, TraitValue Value, int Shared)> traits = [];
    readonly List<int> itemIds = [];
    readonly SharedValueTable? values;
    readonly List<EventEntry> events = [];
    readonly List<(ushort StorageId, ComputedTraitDefinition Definition, long Time, TraitValue? Value)> computed = [];
    byte[] buffer = new byte[4096];

    /// <summary>A builder that stores every value in the record.</summary>
    public ProfileRecordBuilder() { }

    /// <summary>
    /// A builder that stores the values <paramref name="values"/> shares as their ids. It only looks
    /// values up: counting them towards sharing is the engine's, once a write is applied (<see cref="SharedValueTable.Observe"/>).
    /// </summary>
    public ProfileRecordBuilder(SharedValueTable values) => this.values = values;

    /// <summary>Starts a new delta.</summary>
    public void Reset()
    {
        identifiers.Clear();
        traits.Clear();
        itemIds.Clear();
        events.Clear();
        computed.Clear();
    }

    /// <summary>Adds an identifier (already normalised).</summary>
    public void AddIdentifier(byte type, string value) => identifiers.Add((type, Encoding.UTF8.GetBytes(value)));

    /// <summary>Adds a trait value.</summary>
    public void AddTrait(ushort nameId, TraitValue value)
    {
        int shared = -1;
        if (values is not null && values.Count > 0)
        {
            if (value.Kind == TraitKind.String)
                shared = values.TryGetId(value.Text!);
            else if (value.Kind == TraitKind.StringList)
            {
                int start = itemIds.Count;
                bool any = false;
                foreach (var item in value.List!)
                {
                    int id = values.TryGetId(item);
                    itemIds.Add(id);
                    any |= id >= 0;
                }
                if (any)
                    shared = start;
                else
                    itemIds.RemoveRange(start, itemIds.Count - start);
            }
        }
        traits.Add((nameId, value, shared));
    }

    /// <summary>Adds one occurrence of an event.</summary>
    public void AddEvent(ushort nameId, long time) => events.Add(new EventEntry(nameId, 1, time, time));

    /// <summary>Adds an event's contribution to a computed trait: its time and the property value the trait reads.</summary>
    public void AddComputed(ushort storageId, ComputedTraitDefinition definition, long time, TraitValue? value)
        => computed.Add((storageId, definition, time, value));

    /// <summary>
    /// Encodes the delta. Every trait gets <paramref name="eventTime"/> as its time and
    /// <paramref name="source"/> (an interned name, -1 for none) as its source. Returns a view over
    /// the builder's buffer, valid until the next call.
    /// </summary>
    public ReadOnlySpan<byte> Build(ulong seq, long receivedAt, long eventTime, int source)
    {
        identifiers.Sort(static (a, b) => a.Type != b.Type ? a.Type.CompareTo(b.Type) : a.Value.AsSpan().SequenceCompareTo(b.Value));
        traits.Sort(static (a, b) => a.NameId.CompareTo(b.NameId));
        events.Sort(static (a, b) => a.NameId.CompareTo(b.NameId));
        computed.Sort(static (a, b) => a.StorageId.CompareTo(b.StorageId));
        while (true)
        {
            int n = TryEncode(buffer, seq, receivedAt, eventTime, source);
            if (n >= 0)
                return buffer.AsSpan(0, n);
            buffer = new byte[buffer.Length * 2];
        }
    }

    int TryEncode(Span<byte> destination, ulong seq, long receivedAt, long eventTime, int source)
    {
        var w = SpanWriter.ForRecord(destination, receivedAt);
        if (destination.Length < ProfileRecord.HeaderSize)
            return -1;
        w.Skip(ProfileRecord.HeaderSize);
        foreach (var (type, value) in identifiers)
            if (!w.TryWriteIdentifier(type, value))
                return -1;
        foreach (var (nameId, value, shared) in traits)
            if (!TryWriteTrait(ref w, nameId, value, shared, eventTime, source))
                return -1;
        int eventsOffset = w.Position;
        foreach (var e in events)
            if (!w.TryWriteEvent(e))
                return -1;
        int computedCount = 0;
        foreach (var (storageId, definition, time, value) in computed)
        {
            int mark = w.Position;
            if (!w.TryWriteVarint(storageId))
                return -1;
            int n = ComputedState.TryWriteEvent(definition, time, receivedAt, value, ref w);
            if (n < 0)
                return -1;
            if (n == 0)
                w.Rewind(mark);
            else
                computedCount++;
        }
        ProfileRecord.WriteHeader(destination, identifiers.Count, traits.Count, events.Count, computedCount, w.Position,
            historyHead: 0, historySide: 0, seq, receivedAt, receivedAt, eventsOffset);
        return w.Position;
    }

    bool TryWriteTrait(ref SpanWriter w, ushort nameId, in TraitValue value, int shared, long time, int source)
    {
        if (shared >= 0 && value.Kind == TraitKind.String)
            return w.TryWriteTraitHeader(nameId, StoredKind.SharedString, time, source) && w.TryWriteVarint((ulong)shared);
        if (shared >= 0 && value.Kind == TraitKind.StringList)
        {
            if (!w.TryWriteTraitHeader(nameId, StoredKind.SharedStringList, time, source) || !w.TryWriteVarint((ulong)value.List!.Length))
                return false;
            for (int i = 0; i < value.List.Length; i++)
            {
                int id = itemIds[shared + i];
                if (id >= 0 ? !w.TryWriteVarint(((ulong)id << 1) | 1) : !TryWriteTaggedString(ref w, value.List[i]))
                    return false;
            }
            return true;
        }
        if (value.Kind == TraitKind.Double && StoredKind.TryEncodeDecimal(value.Number, out ulong scaled))
            return w.TryWriteTraitHeader(nameId, StoredKind.DecimalDouble, time, source) && w.TryWriteVarint(scaled);
        if (!w.TryWriteTraitHeader(nameId, value.Kind, time, source))
            return false;
        switch (value.Kind)
        {
            case TraitKind.Int or TraitKind.Timestamp: return w.TryWriteZigZag(value.Integer);
            case TraitKind.Double: return w.TryWriteDouble(value.Number);
            case TraitKind.String: return w.TryWriteString(value.Text!);
            case TraitKind.StringList:
                if (!w.TryWriteVarint((ulong)value.List!.Length))
                    return false;
                foreach (var s in value.List)
                    if (!w.TryWriteString(s))
                        return false;
                return true;
            default: return true;
        }
    }

    /// <summary>A literal item of a list with shared items: varint (length * 2), then the UTF-8.</summary>
    static bool TryWriteTaggedString(ref SpanWriter w, string value)
    {
        int length = Encoding.UTF8.GetByteCount(value);
        if (!w.TryWriteVarint((ulong)length << 1) || w.Remaining < length)
            return false;
        int written = Encoding.UTF8.GetBytes(value, w.Buffer[w.Position..]);
        w.Skip(written);
        return true;
    }
}
