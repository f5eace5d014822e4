using Cdp.Server.Storage;
using System.Security.Cryptography;
using Cdp.Server.Journal;

namespace Cdp.Server.Erasure;

/// <summary>
/// One random 256-bit key per master id, under which that profile's journal entries are sealed
/// (<see cref="SealedEntry"/>). The journal is append-only, so an erased person's old entries cannot
/// be removed from it; destroying their keys makes them unreadable instead (crypto-shredding).
/// </summary>
/// <remarks>
/// The key file is a run of 32-byte slots indexed by master id (slot 0 holds a magic header), so a key
/// is destroyed by overwriting its slot in place with zeros — unlike the FASTER store, whose log keeps
/// superseded versions. New keys must be durable before any entry sealed under them is acknowledged:
/// after every commit the journal calls <see cref="AfterCommit"/>, which flushes the file when keys
/// were added, and acknowledges the commit's entries only then. Keys are destroyed once the erasure's
/// own journal entry is durable (also in <see cref="AfterCommit"/>); a crash in between is covered by
/// replay, which destroys them again. A crash after a commit but before the key flush leaves entries
/// that were never acknowledged and no longer open: replay skips them like erased ones.
/// Every key is also held in memory (32 bytes per profile): sealing is on the write path.
/// </remarks>
public sealed class ProfileKeys : IJournalCommitListener, IDisposable
{
    /// <summary>Bytes of one key (AES-256).</summary>
    public const int KeyBytes = 32;
    const int SlotsPerChunk = 4096;
    static ReadOnlySpan<byte> Magic => "CDPKEYS\u0001"u8;

    readonly FileStream file;
    readonly object gate = new();
    readonly object flushGate = new();
    readonly List<(long Address, ulong[] Ids)> pendingDestroy = [];
    byte[]?[] chunks = [];
    bool dirty;

    /// <summary>Opens (or creates) the key file at <paramref name="path"/> and loads every key.</summary>
    public ProfileKeys(string path)
    {
        Path = path;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        bool created = !File.Exists(path);
        file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
        try
        {
            if (created || file.Length == 0)
            {
                Span<byte> header = stackalloc byte[KeyBytes];
                header.Clear();
                Magic.CopyTo(header);
                RandomAccess.Write(file.SafeFileHandle, header, 0);
                file.Flush(flushToDisk: true);
                DirectorySync.Flush(System.IO.Path.GetDirectoryName(path)!);
            }
            Load();
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The key file.</summary>
    public string Path { get; }

    void Load()
    {
        long length = file.Length;
        var header = new byte[KeyBytes];
        if (length < KeyBytes || RandomAccess.Read(file.SafeFileHandle, header, 0) != KeyBytes || !header.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new InvalidDataException($"{Path} is not a Cdp key file (bad header). Refusing to start: without it the journal cannot be read.");
        // A torn last slot can only be a key whose flush never finished, so no entry was acknowledged under it.
        long slots = length / KeyBytes;
        var loaded = new byte[(int)((slots + SlotsPerChunk - 1) / SlotsPerChunk)][];
        for (int c = 0; c < loaded.Length; c++)
        {
            loaded[c] = new byte[SlotsPerChunk * KeyBytes];
            long offset = (long)c * SlotsPerChunk * KeyBytes;
            int want = (int)Math.Min(loaded[c].Length, slots * KeyBytes - offset);
            int read = 0;
            while (read < want)
            {
                int n = RandomAccess.Read(file.SafeFileHandle, loaded[c].AsSpan(read, want - read), offset + read);
                if (n <= 0)
                    throw new InvalidDataException($"{Path} ended early while reading keys.");
                read += n;
            }
        }
        if (loaded.Length > 0)
            loaded[0].AsSpan(0, KeyBytes).Clear();
        chunks = loaded;
    }

    /// <summary>Copies the key of <paramref name="id"/> into <paramref name="key"/>; false when it has none or it was destroyed.</summary>
    /// <remarks>
    /// Lock-free: a slot is written only when created (under the writes' stripes of that profile, so
    /// nobody reads it yet) or destroyed (after the profile is gone).
    /// </remarks>
    public bool TryGet(ulong id, Span<byte> key)
    {
        var current = Volatile.Read(ref chunks);
        if (id == 0 || id / SlotsPerChunk >= (ulong)current.Length)
            return false;
        var chunk = current[id / SlotsPerChunk];
        if (chunk is null)
            return false;
        var slot = chunk.AsSpan((int)(id % SlotsPerChunk) * KeyBytes, KeyBytes);
        if (slot.IndexOfAnyExcept((byte)0) < 0)
            return false;
        slot.CopyTo(key);
        return true;
    }

    /// <summary>The key of <paramref name="id"/>, made (and written, flushed with the next journal commit) when it has none.</summary>
    public void GetOrCreate(ulong id, Span<byte> key)
    {
        if (TryGet(id, key))
            return;
        if (id == 0)
            throw new ArgumentOutOfRangeException(nameof(id), "master ids start at 1");
        lock (gate)
        {
            if (TryGet(id, key))
                return;
            RandomNumberGenerator.Fill(key);
            var chunk = ChunkFor(id);
            key.CopyTo(chunk.AsSpan((int)(id % SlotsPerChunk) * KeyBytes, KeyBytes));
            RandomAccess.Write(file.SafeFileHandle, key, (long)id * KeyBytes);
            dirty = true;
        }
    }

    byte[] ChunkFor(ulong id)
    {
        int index = checked((int)(id / SlotsPerChunk));
        var current = chunks;
        if (index >= current.Length)
        {
            // Room for twice as many chunks; each is made when its first key is.
            var grown = new byte[Math.Max(index + 1, current.Length * 2)][];
            Array.Copy(current, grown, current.Length);
            Volatile.Write(ref chunks, grown);
            current = grown;
        }
        // Published before the slot is written; a reader of a new id only comes after its creator.
        return current[index] ??= new byte[SlotsPerChunk * KeyBytes];
    }

    /// <summary>Destroys the keys of <paramref name="ids"/> once the journal is durable past <paramref name="journalAddress"/> (the erasure's entry).</summary>
    public void DestroyAfterCommit(ulong[] ids, long journalAddress)
    {
        lock (gate)
            pendingDestroy.Add((journalAddress, ids));
    }

    /// <summary>Overwrites the keys of <paramref name="ids"/> with zeros, in memory and in the file, and flushes the file.</summary>
    public void Destroy(IEnumerable<ulong> ids)
    {
        lock (gate)
            DestroyLocked(ids);
        Flush();
    }

    void DestroyLocked(IEnumerable<ulong> ids)
    {
        Span<byte> zeros = stackalloc byte[KeyBytes];
        zeros.Clear();
        var current = chunks;
        foreach (var id in ids)
        {
            if (id == 0 || id / SlotsPerChunk >= (ulong)current.Length || current[id / SlotsPerChunk] is null)
                continue;
            current[id / SlotsPerChunk].AsSpan((int)(id % SlotsPerChunk) * KeyBytes, KeyBytes).Clear();
            RandomAccess.Write(file.SafeFileHandle, zeros, (long)id * KeyBytes);
            dirty = true;
        }
    }

    /// <summary>
    /// Flushes every slot written so far. The flag is cleared under the lock and the disk flush runs
    /// outside it: a write making a new key must not wait for a flush of the file (it holds its stripes).
    /// A slot written during the flush marks the file dirty again and goes with the next one.
    /// </summary>
    void Flush()
    {
        // One flush at a time: a caller finding the flag clear must not return while another
        // caller's flush of its slots is still under way.
        lock (flushGate)
        {
            lock (gate)
            {
                if (!dirty)
                    return;
                dirty = false;
            }
            try
            {
                file.Flush(flushToDisk: true);
            }
            catch
            {
                lock (gate)
                    dirty = true;
                throw;
            }
        }
    }

    /// <summary>
    /// Makes new keys durable before the entries sealed under them are acknowledged (every such key
    /// was made before its entry was appended, so before this commit ended), and destroys the keys of
    /// erasures whose entries are now durable.
    /// </summary>
    public void AfterCommit(long committedUntilAddress)
    {
        lock (gate)
        {
            for (int i = pendingDestroy.Count - 1; i >= 0; i--)
            {
                if (pendingDestroy[i].Address >= committedUntilAddress)
                    continue;
                DestroyLocked(pendingDestroy[i].Ids);
                pendingDestroy.RemoveAt(i);
            }
        }
        Flush();
    }

    /// <summary>Keys of erasures still waiting for their commit (for tests and metrics).</summary>
    public int PendingDestroyCount
    {
        get
        {
            lock (gate)
                return pendingDestroy.Count;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Flush();
        lock (gate)
            file.Dispose();
    }
}
