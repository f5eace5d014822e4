using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;
using Cdp.Protocol;
using Cdp.Server.Engine;

namespace Cdp.Server.Schema;

/// <summary>
/// Interns trait and event names to small integer ids so profile records stay compact. The mapping
/// lives in its own append-only file, written and flushed to disk before any record uses a new id:
/// records in checkpoints and journal replays can then always resolve their ids, whatever the order
/// of FASTER's checkpoint versus other sessions' writes.
/// </summary>
/// <remarks>File format: repeated <c>u16 id | u16 length | UTF-8 name</c>, little-endian. A torn last
/// entry (crash mid-append) is ignored on load and overwritten; any other inconsistency is an error.</remarks>
public sealed class SchemaRegistry : IDisposable
{
    readonly ConcurrentDictionary<string, ushort> ids = new(StringComparer.Ordinal);
    readonly string[] names;
    readonly bool[] consent;
    readonly byte[][] utf8Names;
    readonly FileStream file;
    readonly object appendLock = new();
    readonly int capacity;
    int count;

    /// <summary>Opens (or creates) the registry file at <paramref name="path"/>.</summary>
    public SchemaRegistry(string path, int capacity = 65_535)
    {
        if (capacity is < 1 or > 65_535)
            throw new InvalidOperationException("Schema:MaxNames must be between 1 and 65535.");
        this.capacity = capacity;
        names = new string[capacity + 1];
        consent = new bool[capacity + 1];
        utf8Names = new byte[capacity + 1][];
        file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 4096, FileOptions.None);
        Load(path);
    }

    void Load(string path)
    {
        var header = new byte[4];
        long valid = 0;
        while (true)
        {
            if (file.Read(header, 0, 4) < 4)
                break;
            ushort id = BinaryPrimitives.ReadUInt16LittleEndian(header);
            int length = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(2));
            var bytes = new byte[length];
            if (file.Read(bytes, 0, length) < length)
                break;
            if (id != count + 1 || id > capacity)
                throw new InvalidDataException($"{path} is corrupt: entry {count + 1} has id {id}.");
            string name = Encoding.UTF8.GetString(bytes);
            count = id;
            names[id] = name;
            consent[id] = name.StartsWith(ConsentPrefix, StringComparison.Ordinal);
            utf8Names[id] = bytes;
            ids[name] = id;
            valid = file.Position;
        }
        // Drop a torn tail so the next append starts on an entry boundary.
        file.SetLength(valid);
        file.Position = valid;
    }

    /// <summary>Number of interned names.</summary>
    public int Count => Volatile.Read(ref count);

    /// <summary>Looks up a name without interning it.</summary>
    public bool TryGetId(string name, out ushort id) => ids.TryGetValue(name, out id);

    /// <summary>Looks up a UTF-8 name without interning it or allocating.</summary>
    public bool TryGetId(ReadOnlySpan<byte> utf8Name, out ushort id)
    {
        Span<char> chars = stackalloc char[Cdp.Protocol.ProtocolLimits.MaxNameBytes];
        if (!Encoding.UTF8.TryGetChars(utf8Name, chars, out int n))
        {
            id = 0;
            return false;
        }
        return ids.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(chars[..n], out id);
    }

    /// <summary>The id of <paramref name="name"/>, interning (and durably recording) it if new.</summary>
    public ushort Intern(string name, string field)
    {
        if (ids.TryGetValue(name, out var id))
            return id;
        lock (appendLock)
        {
            if (ids.TryGetValue(name, out id))
                return id;
            if (count >= capacity)
                throw EngineException.BadRequest(ErrorCode.SchemaFull,
                    $"the schema already holds {capacity} distinct trait and event names; '{name}' cannot be added.", field);
            var bytes = Encoding.UTF8.GetBytes(name);
            id = (ushort)(count + 1);
            Span<byte> header = stackalloc byte[4];
            BinaryPrimitives.WriteUInt16LittleEndian(header, id);
            BinaryPrimitives.WriteUInt16LittleEndian(header[2..], (ushort)bytes.Length);
            long position = file.Position;
            try
            {
                file.Write(header);
                file.Write(bytes);
                file.Flush(flushToDisk: true);
            }
            catch
            {
                // Cut a half-written entry (disk full) so the next append starts on an entry boundary.
                try { file.SetLength(position); file.Position = position; } catch (IOException) { }
                throw;
            }
            names[id] = name;
            consent[id] = name.StartsWith(ConsentPrefix, StringComparison.Ordinal);
            utf8Names[id] = bytes;
            Volatile.Write(ref count, id);
            ids[name] = id;
            return id;
        }
    }

    /// <summary>Every name, in id order.</summary>
    public IEnumerable<string> Names
    {
        get
        {
            int total = Count;
            for (int i = 1; i <= total; i++)
                yield return names[i];
        }
    }

    /// <summary>The name of an id.</summary>
    public string GetName(ushort id) => names[id];

    /// <summary>Names under which a profile's consent per purpose is stored (<c>consent:marketing</c>); never shown as traits.</summary>
    public const string ConsentPrefix = "consent:";

    /// <summary>Whether id names a consent rather than a trait (a flag set when the name is first seen, read without a lookup).</summary>
    public bool IsConsent(ushort id) => id < consent.Length && consent[id];

    /// <summary>Number of names that start with <paramref name="prefix"/> (a namespace within the registry).</summary>
    public int CountWithPrefix(string prefix)
    {
        int n = 0, total = Count;
        for (int i = 1; i <= total; i++)
            if (names[i].StartsWith(prefix, StringComparison.Ordinal))
                n++;
        return n;
    }

    /// <summary>The UTF-8 name of an id, for writing responses without encoding.</summary>
    public ReadOnlySpan<byte> GetUtf8Name(ushort id) => utf8Names[id];

    /// <inheritdoc />
    public void Dispose() => file.Dispose();
}
