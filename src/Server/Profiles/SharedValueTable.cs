using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;

namespace Cdp.Server.Profiles;

/// <summary>
/// Trait values that many profiles hold (a plan, a country, a city, a referrer, a list's tags), stored
/// once: a record then holds a one- to three-byte id in place of the string (trait kinds
/// <see cref="StoredKind.SharedString"/> and <see cref="StoredKind.SharedStringList"/>).
/// </summary>
/// <remarks>
/// <para>
/// A value is shared only once <see cref="MinProfiles"/> distinct profiles have written it, counted in
/// memory and never written down, so the file holds no value that only one person had: erasing a
/// profile leaves no readable trace of it here (docs/consent.md). Values longer than
/// <see cref="MaxValueBytes"/> or shorter than two bytes are never shared (a long value rarely repeats,
/// a short one saves nothing), and once the table holds <see cref="MaxValues"/> values new ones stay in
/// the records.
/// </para>
/// <para>
/// Like <see cref="Schema.SchemaRegistry"/>, the table is an append-only file written and flushed to
/// disk before any record uses a new id, so checkpoints and journal replays can always resolve their
/// ids. Entries: <c>u16 length | u32 FNV-1a of the bytes | UTF-8 bytes</c>, ids in file order from 0.
/// A torn last entry (a crash mid-append; no record can use its id) is dropped on load and overwritten.
/// </para>
/// </remarks>
public sealed class SharedValueTable : IDisposable
{
    /// <summary>A table that holds nothing and shares nothing, for records known to hold no shared values (tests, tools).</summary>
    public static SharedValueTable None { get; } = new();

    const int EntryHeader = 6;
    /// <summary>Candidate slots: values waiting to be seen by enough profiles. Fixed, so memory does not grow with distinct values.</summary>
    const int CandidateSlots = 1 << 16;
    const int CandidateStripes = 64;

    readonly ConcurrentDictionary<string, int> ids = new(StringComparer.Ordinal);
    readonly byte[][] values;
    readonly FileStream? file;
    readonly object appendLock = new();
    readonly string? path;
    int count;

    // Candidates: slot = hash of the value; a different value landing in a slot replaces it.
    readonly string?[] candidateValues = [];
    readonly ulong[] candidateProfiles = [];
    readonly byte[] candidateCounts = [];
    readonly object[] candidateLocks = [];

    SharedValueTable()
    {
        values = [];
    }

    /// <summary>Opens (or creates) the table's file at <paramref name="path"/>.</summary>
    /// <param name="path">The file.</param>
    /// <param name="minProfiles">Distinct profiles that must hold a value before it is shared; 0 shares nothing new (existing ids still resolve).</param>
    /// <param name="maxValues">Most values the table takes.</param>
    /// <param name="maxValueBytes">Longest value (UTF-8 bytes) that is shared.</param>
    public SharedValueTable(string path, int minProfiles, int maxValues, int maxValueBytes)
    {
        if (minProfiles is < 0 or > 255)
            throw new ArgumentOutOfRangeException(nameof(minProfiles), "Store:SharedValueMinProfiles must be 0-255.");
        if (maxValues is < 1 or > 1 << 21)
            throw new ArgumentOutOfRangeException(nameof(maxValues), "Store:MaxSharedValues must be 1-2097152.");
        if (maxValueBytes is < 2 or > 1024)
            throw new ArgumentOutOfRangeException(nameof(maxValueBytes), "Store:MaxSharedValueBytes must be 2-1024.");
        this.path = path;
        MinProfiles = minProfiles;
        MaxValues = maxValues;
        MaxValueBytes = maxValueBytes;
        values = new byte[maxValues][];
        if (minProfiles > 0)
        {
            candidateValues = new string?[CandidateSlots];
            candidateProfiles = new ulong[CandidateSlots * minProfiles];
            candidateCounts = new byte[CandidateSlots];
            candidateLocks = new object[CandidateStripes];
            for (int i = 0; i < candidateLocks.Length; i++)
                candidateLocks[i] = new object();
        }
        file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 4096, FileOptions.None);
        try
        {
            Load();
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Distinct profiles that must hold a value before it is shared (0: nothing new is shared).</summary>
    public int MinProfiles { get; }
    /// <summary>Most values the table takes.</summary>
    public int MaxValues { get; }
    /// <summary>Longest value shared, in UTF-8 bytes.</summary>
    public int MaxValueBytes { get; }
    /// <summary>Number of shared values.</summary>
    public int Count => Volatile.Read(ref count);

    void Load()
    {
        var header = new byte[EntryHeader];
        long valid = 0;
        while (true)
        {
            if (file!.Read(header, 0, EntryHeader) < EntryHeader)
                break;
            int length = BinaryPrimitives.ReadUInt16LittleEndian(header);
            uint checksum = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(2));
            if (length is < 2 or > 1024)
                break;
            var bytes = new byte[length];
            if (file.Read(bytes, 0, length) < length || Fnv1a(bytes) != checksum)
                break;
            if (count >= values.Length)
                throw new InvalidDataException($"{path} holds more than {values.Length} shared values; raise Store:MaxSharedValues to open it.");
            values[count] = bytes;
            ids[Encoding.UTF8.GetString(bytes)] = count;
            count++;
            valid = file.Position;
        }
        long rest = file!.Length - valid;
        if (rest > EntryHeader + 1024)
            throw new InvalidDataException($"{path} is damaged after shared value {count}: {rest} bytes do not read as entries (a torn last entry is at most {EntryHeader + 1024}).");
        if (rest > 0)
        {
            // Only the last append can be torn (each one is flushed before the next starts), so what
            // follows the last whole entry is that append: no record holds its id.
            file.SetLength(valid);
            file.Flush(flushToDisk: true);
        }
        file.Position = valid;
    }

    /// <summary>The UTF-8 bytes of shared value <paramref name="id"/>.</summary>
    /// <exception cref="InvalidDataException">The table has no such value (a record from another data folder, or a damaged one).</exception>
    public byte[] Get(int id)
    {
        if ((uint)id >= (uint)Volatile.Read(ref count))
            throw new InvalidDataException($"a record refers to shared value {id}, but the table holds {Count} ({path ?? "no table"}).");
        return values[id];
    }

    /// <summary>The id of <paramref name="value"/> when it is shared; -1 when it is not (yet).</summary>
    public int TryGetId(string value) => ids.TryGetValue(value, out int id) ? id : -1;

    /// <summary>
    /// The id to store for <paramref name="value"/> written to profile <paramref name="profile"/>, or
    /// -1 to store it as it is. Counts the profile towards sharing the value, and shares it (a durable
    /// append) when it is the <see cref="MinProfiles"/>-th distinct profile seen with it.
    /// </summary>
    public int Resolve(string value, ulong profile)
    {
        if (ids.TryGetValue(value, out int id))
            return id;
        if (MinProfiles == 0 || value.Length < 2 || value.Length > MaxValueBytes || Volatile.Read(ref count) >= MaxValues)
            return -1;
        int byteCount = Encoding.UTF8.GetByteCount(value);
        if (byteCount < 2 || byteCount > MaxValueBytes)
            return -1;
        int slot = (int)((uint)value.GetHashCode() & (CandidateSlots - 1));
        bool share;
        lock (candidateLocks[slot & (CandidateStripes - 1)])
        {
            if (!string.Equals(candidateValues[slot], value, StringComparison.Ordinal))
            {
                candidateValues[slot] = value;
                candidateCounts[slot] = 0;
            }
            var seen = candidateProfiles.AsSpan(slot * MinProfiles, candidateCounts[slot]);
            if (seen.Contains(profile))
                return -1;
            if (seen.Length + 1 < MinProfiles)
            {
                candidateProfiles[slot * MinProfiles + seen.Length] = profile;
                candidateCounts[slot]++;
                return -1;
            }
            candidateValues[slot] = null;
            candidateCounts[slot] = 0;
            share = true;
        }
        return share ? Append(value, byteCount) : -1;
    }

    int Append(string value, int byteCount)
    {
        lock (appendLock)
        {
            if (ids.TryGetValue(value, out int id))
                return id;
            if (count >= MaxValues)
                return -1;
            var bytes = new byte[EntryHeader + byteCount];
            Encoding.UTF8.GetBytes(value, bytes.AsSpan(EntryHeader));
            var utf8 = bytes.AsSpan(EntryHeader).ToArray();
            BinaryPrimitives.WriteUInt16LittleEndian(bytes, (ushort)byteCount);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(2), Fnv1a(utf8));
            long position = file!.Position;
            try
            {
                file.Write(bytes);
                file.Flush(flushToDisk: true);
            }
            catch (IOException)
            {
                // A full disk: the value stays in its records instead; cut what may have been written
                // so the next append starts on an entry boundary.
                try { file.SetLength(position); file.Position = position; } catch (IOException) { }
                return -1;
            }
            id = count;
            values[id] = utf8;
            Volatile.Write(ref count, id + 1);
            ids[value] = id;
            return id;
        }
    }

    static uint Fnv1a(ReadOnlySpan<byte> bytes)
    {
        uint hash = 2166136261;
        foreach (byte b in bytes)
            hash = (hash ^ b) * 16777619;
        return hash;
    }

    /// <inheritdoc />
    public void Dispose() => file?.Dispose();
}
