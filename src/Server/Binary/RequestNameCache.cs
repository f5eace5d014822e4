using System.Runtime.CompilerServices;
using System.Text;

namespace Cdp.Server.Binary;

/// <summary>
/// The strings a request body names things with (map keys, event names) and the field paths built from
/// them ("properties.sku"), kept per thread so that parsing the thousandth Track of the same shape
/// allocates none of them again. Names only: values (e-mail addresses, SKUs) are never kept here, nor
/// keys of nested maps (MessagePackBodyReader.ReadValue), which a sender may fill with anything.
/// </summary>
/// <remarks>
/// A name is found by its UTF-8 bytes in a direct-mapped table: a slot holds the last name that hashed
/// there, so a stream of ever new names costs a string each, as without the cache, and the table never
/// grows (at most <see cref="Slots"/> names of <see cref="Cdp.Protocol.ProtocolLimits.MaxNameBytes"/>
/// bytes per thread). Field paths are looked up by the identity of the two strings they join, which the
/// name table makes stable; that table is cleared when it reaches <see cref="MaxPaths"/> paths, and a
/// path longer than <see cref="MaxPathLength"/> is built but not kept, so it holds at most
/// <see cref="MaxPaths"/> x <see cref="MaxPathLength"/> characters (and the names they refer to).
/// </remarks>
static class RequestNameCache
{
    const int Slots = 1024;
    const int MaxPaths = 4096;
    const int MaxPathLength = 128;

    [ThreadStatic] static Entry[]? names;
    [ThreadStatic] static Dictionary<(string, string), string>? paths;

    struct Entry
    {
        public byte[]? Utf8;
        public string? Name;
    }

    /// <summary>The string of <paramref name="utf8"/> (valid UTF-8), the same instance as the last time these bytes were seen on this thread when the slot still holds them.</summary>
    public static string Name(ReadOnlySpan<byte> utf8)
    {
        var table = names ??= new Entry[Slots];
        ref var entry = ref table[(int)((uint)Hash(utf8) % Slots)];
        if (entry.Utf8 is { } known && utf8.SequenceEqual(known))
            return entry.Name!;
        var name = Encoding.UTF8.GetString(utf8);
        entry.Utf8 = utf8.ToArray();
        entry.Name = name;
        return name;
    }

    /// <summary><paramref name="parent"/> + "." + <paramref name="key"/>, made once per pair of strings on this thread.</summary>
    public static string Path(string parent, string key)
    {
        var table = paths ??= new Dictionary<(string, string), string>(ReferencePairComparer.Instance);
        if (table.TryGetValue((parent, key), out var path))
            return path;
        path = parent + "." + key;
        if (path.Length > MaxPathLength)
            return path;
        if (table.Count >= MaxPaths)
            table.Clear();
        table[(parent, key)] = path;
        return path;
    }

    static int Hash(ReadOnlySpan<byte> utf8)
    {
        // FNV-1a: names are short, and a slot clash only costs a string.
        uint h = 2166136261;
        foreach (byte b in utf8)
            h = (h ^ b) * 16777619;
        return (int)h;
    }

    /// <summary>Pairs compared by reference: the same name from <see cref="Name"/> is the same instance.</summary>
    sealed class ReferencePairComparer : IEqualityComparer<(string, string)>
    {
        public static readonly ReferencePairComparer Instance = new();

        public bool Equals((string, string) x, (string, string) y) => ReferenceEquals(x.Item1, y.Item1) && ReferenceEquals(x.Item2, y.Item2);

        public int GetHashCode((string, string) pair) => HashCode.Combine(RuntimeHelpers.GetHashCode(pair.Item1), RuntimeHelpers.GetHashCode(pair.Item2));
    }
}
