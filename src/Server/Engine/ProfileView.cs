using System.Text;
using Cdp.Server.Computed;
using Cdp.Server.Identity;
using Cdp.Server.Profiles;
using Cdp.Server.Schema;

namespace Cdp.Server.Engine;

/// <summary>
/// A profile as read, projected for the caller: the record bytes (copied out of the store into the
/// session's buffer) plus the set of traits the caller may see. Transports walk it to write JSON or
/// MessagePack; it is valid until the session's next read.
/// </summary>
public sealed class ProfileView
{
    readonly SchemaRegistry schema;
    readonly IdentifierTypes identifierTypes;
    readonly ComputedTraitCatalog catalog;
    readonly SharedValueTable values;
    readonly TimeProvider time;
    readonly HashSet<ushort> projectedTraits = [];
    readonly bool[] projectedComputed;
    byte[] record = [];
    int length;
    bool projected;
    // Computed and derived values of the current record, evaluated once per read on first use:
    // trait entries whose name id is the catalog index (see ComputedValues).
    readonly byte[] computedBuffer;
    int computedLength = -1;
    int computedCount;

    internal ProfileView(SchemaRegistry schema, IdentifierTypes identifierTypes, ComputedTraitCatalog catalog, SharedValueTable values, TimeProvider time)
    {
        this.values = values;
        this.schema = schema;
        this.identifierTypes = identifierTypes;
        this.catalog = catalog;
        this.time = time;
        projectedComputed = new bool[catalog.Count];
        // Per value at most: name varint 3, kind 1, source 1, time 1, payload (a string state value).
        computedBuffer = new byte[catalog.Count * (8 + ComputedState.MaxValueBytes + 8)];
    }

    /// <summary>Resolves the record's shared trait values; pass it to every <see cref="ProfileRecordReader"/> of <see cref="Record"/>.</summary>
    public SharedValueTable SharedValues => values;

    internal void Set(byte[] buffer, int used, ulong masterId)
    {
        record = buffer;
        length = used;
        this.masterId = masterId;
        computedLength = -1;
    }

    internal void SetProjection(IReadOnlyList<string>? fields)
    {
        ProjectAll();
        if (fields is null)
            return;
        projected = true;
        foreach (var f in fields)
        {
            if (f.StartsWith("computed.", StringComparison.Ordinal))
            {
                int index = catalog.IndexOf(f.AsSpan(9));
                if (index >= 0)
                    projectedComputed[index] = true;
            }
            else if (schema.TryGetId(f, out var id))
                projectedTraits.Add(id);
        }
    }

    /// <summary>Shows every trait (the default after a read).</summary>
    public void ProjectAll()
    {
        projectedTraits.Clear();
        Array.Clear(projectedComputed);
        projected = false;
        purpose = null;
        computedLength = -1;
    }

    Cdp.Server.Consent.PurposePolicy? purpose;

    /// <summary>
    /// Limits the view to what <paramref name="policy"/> may see, on top of any field projection;
    /// null for no purpose limit. Set after <see cref="SetProjection"/>, which clears it.
    /// </summary>
    internal void SetPurpose(Cdp.Server.Consent.PurposePolicy? policy)
    {
        purpose = policy;
        computedLength = -1;
    }

    /// <summary>The purpose the view is limited to, if any.</summary>
    public Cdp.Server.Consent.PurposePolicy? Purpose => purpose;

    /// <summary>Whether the caller may see identifiers of this type.</summary>
    public bool IncludesIdentifier(byte type) => purpose is null || purpose.AllowsIdentifier(type);

    /// <summary>Whether the profile holds a granted consent under name id <paramref name="consentId"/>.</summary>
    public bool HasConsent(ushort consentId)
    {
        var r = new ProfileRecordReader(Record, values);
        while (r.NextTrait(out var t))
            if (t.NameId == consentId)
                return t.Kind == TraitKind.True;
        return false;
    }

    /// <summary>
    /// Restricts the view to the named traits; call once per name. A name the schema has never seen
    /// matches nothing, so an unknown field is simply absent from the answer.
    /// </summary>
    public void ProjectTo(ReadOnlySpan<byte> utf8Name)
    {
        projected = true;
        computedLength = -1;
        if (utf8Name.StartsWith("computed."u8))
        {
            var name = utf8Name[9..];
            Span<char> chars = stackalloc char[Cdp.Protocol.ProtocolLimits.MaxNameBytes];
            if (name.Length <= chars.Length && Encoding.UTF8.TryGetChars(name, chars, out int n))
            {
                int index = catalog.IndexOf(chars[..n]);
                if (index >= 0)
                    projectedComputed[index] = true;
            }
        }
        else if (schema.TryGetId(utf8Name, out var id))
            projectedTraits.Add(id);
    }

    /// <summary>The record bytes.</summary>
    public ReadOnlySpan<byte> Record => record.AsSpan(0, length);

    /// <summary>Master id: the key the record was read under (records do not repeat it).</summary>
    public ulong MasterId => masterId;
    ulong masterId;
    /// <summary>Creation time, Unix ms.</summary>
    public long CreatedAt => ProfileRecord.CreatedAt(Record);
    /// <summary>Last update time, Unix ms.</summary>
    public long UpdatedAt => ProfileRecord.UpdatedAt(Record);

    /// <summary>Whether the caller may see this trait. Consents are stored like traits but never shown as one.</summary>
    public bool Includes(ushort nameId)
        => !schema.IsConsent(nameId) && (purpose is null || purpose.AllowsTrait(nameId)) && (!projected || projectedTraits.Contains(nameId));

    /// <summary>Whether the caller may see the computed or derived value at catalog index <paramref name="index"/>.</summary>
    public bool IncludesComputed(int index) => (purpose is null || purpose.AllowsComputed(index)) && (!projected || projectedComputed[index]);

    /// <summary>
    /// The computed and derived values the caller may see, as of now, that have a value (a trait
    /// with no data in its window is absent, except counts and sums, which are 0). Evaluated on the
    /// first call after a read; walk them with <see cref="ComputedValueReader"/>.
    /// </summary>
    public ComputedValueReader ComputedValues
    {
        get
        {
            if (computedLength < 0)
                EvaluateComputed();
            return new ComputedValueReader(computedBuffer.AsSpan(0, computedLength), computedCount);
        }
    }

    /// <summary>Whether the server has computed or derived traits configured.</summary>
    public bool HasComputedTraits => catalog.Count > 0;

    /// <summary>UTF-8 name of a computed or derived value.</summary>
    public ReadOnlySpan<byte> ComputedNameOf(int index) => catalog.Utf8NameOf(index);

    /// <summary>Name of a computed or derived value.</summary>
    public string ComputedNameStringOf(int index) => catalog.NameOf(index);

    /// <summary>Name of a trait's source (<see cref="TraitEntry.Source"/>), or null for none.</summary>
    public string? SourceNameOf(int source) => source < 0 ? null : schema.GetName((ushort)source)[EngineSession.SourcePrefix.Length..];

    /// <summary>
    /// Every computed and derived value of the current record as of <paramref name="now"/> (ignoring
    /// the projection), for rule evaluation at a chosen instant: catalog-indexed trait entries.
    /// </summary>
    internal ReadOnlyMemory<byte> AllComputedAt(long now)
    {
        EvaluateComputed(now, everything: true);
        // What was evaluated is not the caller's projection: evaluate again on the next read.
        int length = computedLength;
        computedLength = -1;
        return computedBuffer.AsMemory(0, length);
    }

    void EvaluateComputed() => EvaluateComputed(time.GetUtcNow().ToUnixTimeMilliseconds(), everything: false);

    void EvaluateComputed(long now, bool everything)
    {
        // Rules read every value whatever the caller may see.
        bool includes(int index) => everything || IncludesComputed(index);
        var w = new SpanWriter(computedBuffer, 0);
        int count = 0;
        int traits = catalog.Traits.Count;
        // Timestamps of first/last values, for derived values that read them.
        Span<long> timestamps = traits <= 128 ? stackalloc long[traits] : new long[traits];
        timestamps.Fill(long.MinValue);
        var r = new ProfileRecordReader(Record, values);
        while (r.NextComputed(out var storageId, out var state))
        {
            if (catalog.ByStorageId(storageId) is not { } d)
                continue;
            int index = catalog.IndexOfStorageId(storageId);
            var value = ComputedState.Evaluate(d, state, now);
            if (value.Kind == TraitKind.Timestamp)
                timestamps[index] = value.Integer;
            if (value.Kind != TraitKind.Null && includes(index) && Append(ref w, index, value))
                count++;
        }
        // Counts, sums and distinct counts of traits with no state yet read 0.
        for (int i = 0; i < traits; i++)
        {
            var f = catalog.Traits[i].Function;
            if (f is ComputedFunction.Count or ComputedFunction.Sum or ComputedFunction.DistinctCount
                && includes(i) && !HasState(catalog.StorageIdOf(i)) && Append(ref w, i, ComputedValue.OfNumber(0L)))
                count++;
        }
        for (int i = 0; i < catalog.Derived.Count; i++)
        {
            int index = traits + i;
            if (!includes(index))
                continue;
            var derived = catalog.Derived[i];
            long from = long.MinValue;
            if (derived.FromComputed)
                from = timestamps[catalog.IndexOf(derived.SourceName)];
            else if (schema.TryGetId(derived.SourceName, out var traitId))
            {
                var tr = new ProfileRecordReader(Record, values);
                while (tr.NextTrait(out var t))
                    if (t.NameId == traitId && t.Kind == TraitKind.Timestamp)
                        from = t.Integer;
            }
            if (from != long.MinValue && Append(ref w, index, ComputedValue.OfNumber(derived.DaysSince(from, now))))
                count++;
        }
        computedLength = w.Position;
        computedCount = count;
    }

    bool HasState(ushort storageId)
    {
        var r = new ProfileRecordReader(Record, values);
        while (r.NextComputed(out var id, out _))
            if (id == storageId)
                return true;
        return false;
    }

    static bool Append(ref SpanWriter w, int index, in ComputedValue value)
        => w.TryWriteTraitHeader((ushort)index, value.Kind, 0, -1) && value.TryWritePayload(ref w);

    /// <summary>Whether a name id is a consent (shown under <c>consent</c>, never as a trait).</summary>
    public bool IsConsent(ushort nameId) => schema.IsConsent(nameId);

    /// <summary>UTF-8 name of a trait or event id.</summary>
    public ReadOnlySpan<byte> NameOf(ushort nameId) => schema.GetUtf8Name(nameId);

    /// <summary>Name of a trait or event id.</summary>
    public string NameStringOf(ushort nameId) => schema.GetName(nameId);

    /// <summary>UTF-8 name of an identifier type.</summary>
    public ReadOnlySpan<byte> IdentifierTypeOf(byte type) => identifierTypes.GetUtf8Name(type);

    /// <summary>Name of an identifier type.</summary>
    public string IdentifierTypeStringOf(byte type) => identifierTypes.GetName(type);
}

/// <summary>Walks the computed values of a <see cref="ProfileView"/>: entries whose name id is the catalog index.</summary>
public ref struct ComputedValueReader
{
    ReadOnlySpan<byte> rest;

    internal ComputedValueReader(ReadOnlySpan<byte> entries, int count)
    {
        rest = entries;
        Count = count;
    }

    /// <summary>Number of values.</summary>
    public int Count { get; }

    /// <summary>Reads the next value; <see cref="TraitEntry.NameId"/> is the catalog index.</summary>
    public bool Next(out TraitEntry value)
    {
        if (rest.IsEmpty)
        {
            value = default;
            return false;
        }
        value = TraitPayload.ReadEntry(rest, 0, out int length);
        rest = rest[length..];
        return true;
    }
}
