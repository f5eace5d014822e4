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
    readonly List<(ushort NameId, TraitValue Value)> traits = [];
    readonly List<EventEntry> events = [];
    readonly List<(ushort StorageId, ComputedTraitDefinition Definition, long Time, TraitValue? Value)> computed = [];
    byte[] buffer = new byte[4096];

    /// <summary>Starts a new delta.</summary>
    public void Reset()
    {
        identifiers.Clear();
        traits.Clear();
        events.Clear();
        computed.Clear();
    }

    /// <summary>Adds an identifier (already normalised).</summary>
    public void AddIdentifier(byte type, string value) => identifiers.Add((type, Encoding.UTF8.GetBytes(value)));

    /// <summary>Adds a trait value.</summary>
    public void AddTrait(ushort nameId, TraitValue value) => traits.Add((nameId, value));

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
        var w = new SpanWriter(destination, receivedAt);
        if (destination.Length < ProfileRecord.HeaderSize)
            return -1;
        w.Skip(ProfileRecord.HeaderSize);
        foreach (var (type, value) in identifiers)
            if (!w.TryWriteIdentifier(type, value))
                return -1;
        foreach (var (nameId, value) in traits)
            if (!TryWriteTrait(ref w, nameId, value, eventTime, source))
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

    static bool TryWriteTrait(ref SpanWriter w, ushort nameId, in TraitValue value, long time, int source)
    {
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
}
