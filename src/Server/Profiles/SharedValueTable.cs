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
/// A value is shared only once <see cref="MinProfiles"/> distinct profiles hold it: the engine reports
/// each applied write's values (<see cref="Observe"/>; never a replay, an unmerge's rebuild or a refused
/// write), and profiles merged since they were counted count once. The counting is in memory and never
/// written down, so the file holds no value that only one profile had: erasing a profile leaves no
/// readable trace of it here (docs/consent.md). Records use an id only once it exists, so the write
/// that completes the count still stores its value in full. Values longer than
/// <see cref="MaxValueBytes"/> or shorter than two bytes are never shared (a long value rarely repeats,
/// a short one saves nothing), and once the table holds <see cref="MaxValues"/> values new ones stay in
/// the records.
/// </para>
/// <para>
/// Like <see cref="Schema.SchemaRegistry"/>, the table is an append-only file written and flushed to
/// disk before any record uses a new id, so checkpoints and journal replays can always resolve their
/// ids. Entries: <c>u16 length | u32 FNV-1a of the bytes | UTF-8 bytes</c>, ids in file order from 0.
/// A torn or damaged last entry is cut on load and its id is retired with a tombstone (length 0), never
/// handed out again: a torn append's id was never used, but a whole entry damaged later may have been,
/// and those records must fail to read rather than read another value. Damage further back stops the open.
/// </para>
/// </remarks>
public sealed class SharedValueTable : IDisposable
{
    /// <summary>A table that holds nothing and shares nothing, for records known to hold no shared values (tests, tools).</summary>
    public static SharedValueTable None { get; } = new();

    const int EntryHeader = 6;
    const int MaxEntryBytes = 1024;
    static readonly uint TombstoneChecksum = Fnv1a([]);
    /// <summary>Candidate slots: values waiting to be seen by enough profiles. Fixed, so memory does not grow with distinct values.</summary>
    const int CandidateSlots = 1 << 16;
    const int CandidateStripes = 64;

    readonly ConcurrentDictionary<string, int> ids = new(StringComparer.Ordinal);
    readonly byte[][] values;
    readonly FileStream? file;
    readonly object appendLock = new();
    readonly string? path;
    int count;
    // An append failed and its bytes could not be cut: nothing more is shared until a restart (whose
    // load cuts them and retires the id).
    volatile bool broken;

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
        if (maxValueBytes is < 2 or > MaxEntryBytes)
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
        bool created = !File.Exists(path);
        // Unbuffered: a failed write must leave nothing behind in a buffer that a later flush would write.
        file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0, FileOptions.None);
        try
        {
            if (created)
                Cdp.Server.Storage.DirectorySync.Flush(Path.GetDirectoryName(Path.GetFullPath(path))!);
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
            byte[]? bytes = null;
            if (length == 0 && checksum == TombstoneChecksum)
            {
                // A retired id (see the remarks): it keeps its place, and reading it is an error.
            }
            else
            {
                if (length is < 2 or > MaxEntryBytes)
                    break;
                bytes = new byte[length];
                if (file.Read(bytes, 0, length) < length || Fnv1a(bytes) != checksum)
                    break;
            }
            Take(bytes);
            valid = file.Position;
        }
        long rest = file!.Length - valid;
        if (rest > EntryHeader + MaxEntryBytes)
            throw new InvalidDataException($"{path} is damaged after shared value {count}: {rest} bytes do not read as entries (a torn last entry is at most {EntryHeader + MaxEntryBytes}). Restore the data folder from a backup.");
        file.Position = valid;
        if (rest > 0)
        {
            file.SetLength(valid);
            var tombstone = new byte[EntryHeader];
            BinaryPrimitives.WriteUInt32LittleEndian(tombstone.AsSpan(2), TombstoneChecksum);
            file.Write(tombstone);
            file.Flush(flushToDisk: true);
            Take(null);
        }
    }

    void Take(byte[]? bytes)
    {
        if (count >= values.Length)
            throw new InvalidDataException($"{path} holds more than {values.Length} shared values; raise Store:MaxSharedValues to open it.");
        values[count] = bytes!;
        if (bytes is not null)
            ids[Encoding.UTF8.GetString(bytes)] = count;
        count++;
    }

    /// <summary>The UTF-8 bytes of shared value <paramref name="id"/>.</summary>
    /// <exception cref="InvalidDataException">The table has no such value (a record from another data folder, or a damaged one).</exception>
    public byte[] Get(int id)
    {
        if ((uint)id >= (uint)Volatile.Read(ref count))
            throw new InvalidDataException($"a record refers to shared value {id}, but the table holds {Count} ({path ?? "no table"}).");
        return values[id] ?? throw new InvalidDataException($"shared value {id} was lost: {path} ended in a torn or damaged entry for it when it was opened.");
    }

    /// <summary>The id of <paramref name="value"/> when it is shared; -1 when it is not (yet).</summary>
    public int TryGetId(string value) => ids.TryGetValue(value, out int id) ? id : -1;

    /// <summary>
    /// Counts <paramref name="profile"/>, whose applied write holds <paramref name="value"/>, towards
    /// sharing the value, and shares it (a durable append) when it is the <see cref="MinProfiles"/>-th
    /// distinct profile seen with it. <paramref name="currentMaster"/> maps a counted profile to the one it
    /// has since been merged into, so that a merged person counts once. Returns the value's id, or -1
    /// while it is not shared.
    /// </summary>
    public int Observe(string value, ulong profile, Func<ulong, ulong>? currentMaster = null)
    {
        if (ids.TryGetValue(value, out int id))
            return id;
        if (MinProfiles == 0 || broken || value.Length < 2 || value.Length > MaxValueBytes || Volatile.Read(ref count) >= MaxValues)
            return -1;
        int byteCount = Encoding.UTF8.GetByteCount(value);
        if (byteCount < 2 || byteCount > MaxValueBytes)
            return -1;
        int slot = (int)((uint)value.GetHashCode() & (CandidateSlots - 1));
        var stripe = candidateLocks[slot & (CandidateStripes - 1)];
        Span<ulong> profiles = stackalloc ulong[MinProfiles];
        lock (stripe)
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
            seen.CopyTo(profiles);
            profiles[^1] = profile;
        }
        int distinct = profiles.Length;
        if (currentMaster is not null)
        {
            // Outside the lock: the mapping reads the store.
            for (int i = 0; i < profiles.Length; i++)
                profiles[i] = currentMaster(profiles[i]);
            profiles.Sort();
            distinct = 1;
            for (int i = 1; i < profiles.Length; i++)
                if (profiles[i] != profiles[distinct - 1])
                    profiles[distinct++] = profiles[i];
        }
        lock (stripe)
        {
            bool stillCandidate = string.Equals(candidateValues[slot], value, StringComparison.Ordinal);
            if (distinct < MinProfiles)
            {
                // Fewer people than counted: keep counting from the merged set (a count lost to a race
                // here only delays sharing).
                if (stillCandidate)
                {
                    profiles[..distinct].CopyTo(candidateProfiles.AsSpan(slot * MinProfiles));
                    candidateCounts[slot] = (byte)distinct;
                }
                return -1;
            }
            if (stillCandidate)
            {
                candidateValues[slot] = null;
                candidateCounts[slot] = 0;
            }
        }
        return Append(value, byteCount);
    }

    int Append(string value, int byteCount)
    {
        lock (appendLock)
        {
            if (ids.TryGetValue(value, out int id))
                return id;
            if (count >= MaxValues || broken)
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
                // A full disk: the value stays in its records instead. Cut what may have been written
                // so the next append starts on an entry boundary; if even that fails, share nothing
                // more until a restart, whose load cuts the bytes and retires the id.
                try
                {
                    file.SetLength(position);
                    file.Position = position;
                }
                catch (IOException)
                {
                    broken = true;
                }
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
