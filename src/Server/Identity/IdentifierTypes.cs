using Cdp.Protocol;
using Cdp.Server.Engine;

namespace Cdp.Server.Identity;

/// <summary>
/// The identifier types the server accepts, each with a stable one-byte id used in storage keys and
/// profile records. Built-in types have fixed ids; configured types get ids in configuration order
/// after them, so configuration may only ever append types (documented in the README).
/// </summary>
public sealed class IdentifierTypes
{
    /// <summary>The pseudo-type that addresses a profile by its master id (reads only).</summary>
    public const string MasterId = "id";

    /// <summary>Built-in types, in id order starting at 1.</summary>
    public static readonly string[] BuiltIn = ["user_id", "anonymous_id", "email", "phone", "device", "account", "email_sha256"];

    /// <summary>Id of <c>email</c>.</summary>
    public const byte Email = 3;
    /// <summary>Id of <c>phone</c>.</summary>
    public const byte Phone = 4;
    /// <summary>Id of <c>email_sha256</c>.</summary>
    public const byte EmailSha256 = 7;

    readonly Dictionary<string, byte> idsByName = new(StringComparer.Ordinal);
    readonly string[] namesById = new string[256];
    readonly byte[][] utf8NamesById = new byte[256][];
    readonly Dictionary<string, byte>.AlternateLookup<ReadOnlySpan<char>> lookup;

    /// <summary>Creates the registry from the built-in types plus the configured ones.</summary>
    public IdentifierTypes(IEnumerable<string>? configured = null)
    {
        lookup = idsByName.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var name in BuiltIn)
            Add(name);
        foreach (var name in configured ?? [])
        {
            if (idsByName.ContainsKey(name))
                continue;
            if (name == MasterId || name.Length == 0 || name.Length > 64 || !name.All(c => c is >= 'a' and <= 'z' or >= '0' and <= '9' or '_'))
                throw new InvalidOperationException($"Identity:Types: '{name}' is not a valid identifier type (use 1-64 of a-z, 0-9 and _; 'id' is reserved).");
            if (idsByName.Count >= 250)
                throw new InvalidOperationException("Identity:Types: at most 250 identifier types can be declared.");
            Add(name);
        }
    }

    void Add(string name)
    {
        byte id = (byte)(idsByName.Count + 1);
        idsByName[name] = id;
        namesById[id] = name;
        utf8NamesById[id] = System.Text.Encoding.UTF8.GetBytes(name);
    }

    /// <summary>Every declared type name.</summary>
    public IEnumerable<string> Names => idsByName.Keys;

    /// <summary>Finds the id of a type name.</summary>
    public bool TryGetId(ReadOnlySpan<char> name, out byte id) => lookup.TryGetValue(name, out id);

    /// <summary>Finds the id of a UTF-8 type name without allocating (a handful of types: a scan is fastest).</summary>
    public bool TryGetId(ReadOnlySpan<byte> utf8Name, out byte id)
    {
        for (int i = 1; i <= idsByName.Count; i++)
        {
            if (utf8NamesById[i].AsSpan().SequenceEqual(utf8Name))
            {
                id = (byte)i;
                return true;
            }
        }
        id = 0;
        return false;
    }

    /// <summary>The id of a UTF-8 type name, or a <c>unknown_identifier_type</c> error naming the field.</summary>
    public byte GetId(ReadOnlySpan<byte> utf8Name, string field)
        => TryGetId(utf8Name, out var id) ? id : GetId(System.Text.Encoding.UTF8.GetString(utf8Name), field);

    /// <summary>The id of a type name, or a <c>unknown_identifier_type</c> error naming the field.</summary>
    public byte GetId(string name, string field)
    {
        if (TryGetId(name, out var id))
            return id;
        throw EngineException.BadRequest(ErrorCode.UnknownIdentifierType,
            $"'{name}' is not a known identifier type; known types are {string.Join(", ", idsByName.Keys)}.", field);
    }

    /// <summary>Name of a type id.</summary>
    public string GetName(byte id) => namesById[id] ?? $"type{id}";

    /// <summary>UTF-8 name of a type id, cached so responses can be written without encoding.</summary>
    public ReadOnlySpan<byte> GetUtf8Name(byte id) => utf8NamesById[id] ?? [];
}
