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
    readonly HashSet<ushort> projectedTraits = [];
    byte[] record = [];
    int length;
    bool projected;

    internal ProfileView(SchemaRegistry schema, IdentifierTypes identifierTypes)
    {
        this.schema = schema;
        this.identifierTypes = identifierTypes;
    }

    internal void Set(byte[] buffer, int used)
    {
        record = buffer;
        length = used;
    }

    internal void SetProjection(IReadOnlyList<string>? fields)
    {
        ProjectAll();
        if (fields is null)
            return;
        projected = true;
        foreach (var f in fields)
            if (schema.TryGetId(f, out var id))
                projectedTraits.Add(id);
    }

    /// <summary>Shows every trait (the default after a read).</summary>
    public void ProjectAll()
    {
        projectedTraits.Clear();
        projected = false;
    }

    /// <summary>
    /// Restricts the view to the named traits; call once per name. A name the schema has never seen
    /// matches nothing, so an unknown field is simply absent from the answer.
    /// </summary>
    public void ProjectTo(ReadOnlySpan<byte> utf8Name)
    {
        projected = true;
        if (schema.TryGetId(utf8Name, out var id))
            projectedTraits.Add(id);
    }

    /// <summary>The record bytes.</summary>
    public ReadOnlySpan<byte> Record => record.AsSpan(0, length);

    /// <summary>Master id.</summary>
    public ulong MasterId => ProfileRecord.MasterId(Record);
    /// <summary>Creation time, Unix ms.</summary>
    public long CreatedAt => ProfileRecord.CreatedAt(Record);
    /// <summary>Last update time, Unix ms.</summary>
    public long UpdatedAt => ProfileRecord.UpdatedAt(Record);

    /// <summary>Whether the caller may see this trait.</summary>
    public bool Includes(ushort nameId) => !projected || projectedTraits.Contains(nameId);

    /// <summary>Number of traits the caller may see.</summary>
    public int CountProjectedTraits()
    {
        var r = new ProfileRecordReader(Record);
        int n = 0;
        while (r.NextTrait(out var t))
            if (Includes(t.NameId))
                n++;
        return n;
    }

    /// <summary>UTF-8 name of a trait or event id.</summary>
    public ReadOnlySpan<byte> NameOf(ushort nameId) => schema.GetUtf8Name(nameId);

    /// <summary>Name of a trait or event id.</summary>
    public string NameStringOf(ushort nameId) => schema.GetName(nameId);

    /// <summary>UTF-8 name of an identifier type.</summary>
    public ReadOnlySpan<byte> IdentifierTypeOf(byte type) => identifierTypes.GetUtf8Name(type);

    /// <summary>Name of an identifier type.</summary>
    public string IdentifierTypeStringOf(byte type) => identifierTypes.GetName(type);
}
