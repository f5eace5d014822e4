using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using FASTER.core;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Cdp.Server.Journal;

/// <summary>
/// Where the journal keeps its commit records: one file of two fixed slots, written in turn, in place
/// of FASTER's default of a new file per commit.
/// </summary>
/// <remarks>
/// <para>
/// FASTER's <see cref="DeviceLogCommitCheckpointManager"/> creates, synchronously writes and later
/// deletes a file for every commit, so each group commit paid for a file creation and an unlink next
/// to its log write. FasterLog's fast-commit mode avoids that by putting the record into the log, but
/// its recovery in 2.6.5 swallows errors while scanning forward for those records (a damaged entry
/// silently drops later acknowledged writes), so it is not used.
/// </para>
/// <para>
/// A commit overwrites the slot that does not hold the newest valid record, with one synchronous
/// (<c>O_SYNC</c>) write, and only then is it complete. A write torn by a crash therefore leaves the
/// other slot's record intact: recovery falls back to the commit before it, whose writes are the only
/// ones that were acknowledged. Each slot is checksummed, so a torn slot is recognised, never half read.
/// </para>
/// <para>
/// Slot layout (<see cref="SlotBytes"/> each, little-endian): u32 magic | i64 commit number |
/// i32 metadata length | metadata (FASTER's recovery info) | SHA-256 of everything before it. An
/// all-zero slot has never been written.
/// </para>
/// <para>
/// Journals written by earlier versions have a <c>log-commits</c> folder of per-commit files; they are
/// read through FASTER's manager (only records that parse, see <see cref="LegacyCommits"/>) until the
/// first commit here, then deleted.
/// </para>
/// <para>
/// FASTER calls <see cref="Commit"/> from a work queue that swallows exceptions and then never
/// completes the commit, so a failed write would hang every waiting writer. The failure is kept in
/// <see cref="Failed"/> instead, which <see cref="WriteJournal"/> waits on beside the commit.
/// </para>
/// </remarks>
sealed class JournalCommitFile : ILogCommitManager
{
    /// <summary>File name inside the journal's commit folder.</summary>
    public const string FileName = "journal.commit";
    /// <summary>Bytes per slot; FASTER's recovery info without named iterators or cookie is under 100.</summary>
    public const int SlotBytes = 4096;
    const uint Magic = 0x4A50_4443; // "CDPJ"
    const int SlotHeaderBytes = 16;
    const int HashBytes = 32;
    /// <summary>Largest metadata a slot holds.</summary>
    public const int MaxMetadataBytes = SlotBytes - SlotHeaderBytes - HashBytes;

    readonly string directory;
    readonly string path;
    readonly ILogger logger;
    readonly TaskCompletionSource<Exception> failed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    bool directorySynced;
    readonly object gate = new();
    readonly byte[] slotBuffer = new byte[SlotBytes];
    // The records the file holds, by slot; null when a slot is empty or damaged.
    readonly (long Number, byte[] Metadata)?[] slots = new (long, byte[])?[2];
    SafeFileHandle? handle;
    DeviceLogCommitCheckpointManager? legacy;
    int nextSlot;

    /// <summary>
    /// Opens the commit file in <paramref name="directory"/>, or creates it (both slots empty, made
    /// durable) when there is none and no earlier version's commits either, so that a journal whose
    /// file has gone missing is told apart from a new one (<see cref="Existed"/>).
    /// </summary>
    /// <exception cref="InvalidDataException">Both slots hold bytes and neither is a valid record, or an earlier version's commits are all unreadable.</exception>
    public JournalCommitFile(string directory, ILogger logger)
    {
        this.directory = directory;
        this.logger = logger;
        path = Path.Combine(directory, FileName);
        Existed = File.Exists(path);
        if (Existed)
            ReadSlots();
        var legacyFolder = Path.Combine(directory, "log-commits");
        if (Directory.Exists(legacyFolder) && Directory.EnumerateFiles(legacyFolder).Any())
        {
            legacy = new DeviceLogCommitCheckpointManager(new LocalStorageNamedDeviceFactory(), new DefaultCheckpointNamingScheme(directory), removeOutdated: false);
            // With a record in the file, the old files are leftovers of a crash before their deletion:
            // never read, so never a reason to refuse to open; the next commit deletes them.
            if (slots[0] is null && slots[1] is null)
                LegacyCommits = ReadableLegacyCommits(legacy, legacyFolder);
        }
        else
        {
            Open();
        }
    }

    /// <summary>Whether the commit file was there when the journal was opened.</summary>
    public bool Existed { get; }

    /// <summary>Whether an earlier version's per-commit files are still the journal's commit records.</summary>
    public bool HasLegacyCommits => legacy is not null;

    /// <summary>
    /// Completes with the exception when a commit record could not be written: the journal must then
    /// fail (FASTER's commit would otherwise never complete).
    /// </summary>
    public Task<Exception> Failed => failed.Task;

    /// <summary>Test hook: the next commit record write throws this instead of writing.</summary>
    internal Exception? FailNextWriteForTests { get; set; }

    /// <summary>
    /// The earlier version's commits whose records parse, newest first. FASTER's recovery would
    /// otherwise take the addresses of a damaged record (its parser sets them before it checks the
    /// checksum, and the caller swallows the error) and open the journal on garbage.
    /// </summary>
    long[] LegacyCommits { get; } = [];

    static long[] ReadableLegacyCommits(DeviceLogCommitCheckpointManager legacy, string folder)
    {
        var readable = new List<long>();
        foreach (long number in legacy.ListCommits())
        {
            try
            {
                var info = new FasterLogRecoveryInfo();
                using var reader = new BinaryReader(new MemoryStream(legacy.GetCommitMetadata(number)));
                info.Initialize(reader);
                readable.Add(number);
            }
            catch (Exception e) when (e is FasterException or IOException or ArgumentException)
            {
            }
        }
        if (readable.Count == 0)
            throw new InvalidDataException($"The journal's commit records in {folder} are all damaged. Restore the data folder from a backup.");
        return [.. readable];
    }

    void ReadSlots()
    {
        using var reader = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        long length = RandomAccess.GetLength(reader);
        bool damaged0 = false, damaged1 = false;
        for (int slot = 0; slot < 2; slot++)
        {
            Array.Clear(slotBuffer);
            if (length > (long)slot * SlotBytes)
                RandomAccess.Read(reader, slotBuffer, (long)slot * SlotBytes);
            slots[slot] = Decode(slotBuffer, out bool damaged);
            if (slot == 0)
                damaged0 = damaged;
            else
                damaged1 = damaged;
        }
        // One slot is written at a time, so at most one can be torn. Two damaged slots mean the file
        // itself was damaged; starting with an empty journal would drop acknowledged writes unnoticed.
        if (damaged0 && damaged1)
            throw new InvalidDataException($"The journal's commit file {path} is damaged: neither of its two commit records is readable. Restore the data folder from a backup.");
        // A damaged slot is what a crash in the middle of its write leaves; recovery takes the other one,
        // the commit before the torn one. Said aloud, since damage from anything else loses commits.
        if (damaged0 || damaged1)
            logger.LogWarning("The journal's commit file {Path}: slot {Slot} is damaged (a commit interrupted by a crash); recovering from {Other}.",
                path, damaged0 ? 0 : 1, slots[damaged0 ? 1 : 0] is { } other ? $"commit {other.Number}" : "an empty journal (it was the first commit)");
        // A damaged slot next to an empty one is the torn first commit: nothing was acknowledged.
        nextSlot = slots[0] is not { } a ? 0 : slots[1] is not { } b ? 1 : a.Number <= b.Number ? 0 : 1;
    }

    static (long, byte[])? Decode(ReadOnlySpan<byte> slot, out bool damaged)
    {
        damaged = false;
        if (!slot.ContainsAnyExcept((byte)0))
            return null;
        int length = BinaryPrimitives.ReadInt32LittleEndian(slot[12..]);
        if (BinaryPrimitives.ReadUInt32LittleEndian(slot) != Magic || length < 0 || length > MaxMetadataBytes)
        {
            damaged = true;
            return null;
        }
        Span<byte> hash = stackalloc byte[HashBytes];
        SHA256.HashData(slot[..(SlotHeaderBytes + length)], hash);
        if (!hash.SequenceEqual(slot.Slice(SlotHeaderBytes + length, HashBytes)))
        {
            damaged = true;
            return null;
        }
        return (BinaryPrimitives.ReadInt64LittleEndian(slot[4..]), slot.Slice(SlotHeaderBytes, length).ToArray());
    }

    /// <inheritdoc />
    public void Commit(long beginAddress, long untilAddress, byte[] commitMetadata, long commitNum, bool forceWriteMetadata)
    {
        try
        {
            WriteRecord(commitMetadata, commitNum);
        }
        catch (Exception e)
        {
            failed.TrySetResult(e);
            throw;
        }
    }

    void WriteRecord(byte[] commitMetadata, long commitNum)
    {
        if (failed.Task.IsCompleted)
            throw new IOException("an earlier journal commit record could not be written.", failed.Task.Result);
        if (commitMetadata.Length > MaxMetadataBytes)
            throw new InvalidOperationException($"A journal commit record of {commitMetadata.Length} bytes does not fit a {SlotBytes}-byte slot.");
        lock (gate)
        {
            if (FailNextWriteForTests is { } injected)
            {
                FailNextWriteForTests = null;
                throw injected;
            }
            var slot = slotBuffer.AsSpan();
            slot.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(slot, Magic);
            BinaryPrimitives.WriteInt64LittleEndian(slot[4..], commitNum);
            BinaryPrimitives.WriteInt32LittleEndian(slot[12..], commitMetadata.Length);
            commitMetadata.CopyTo(slot[SlotHeaderBytes..]);
            SHA256.HashData(slot[..(SlotHeaderBytes + commitMetadata.Length)], slot.Slice(SlotHeaderBytes + commitMetadata.Length, HashBytes));
            if (handle is null)
                Open();
            // WriteThrough is O_SYNC on Linux: the commit is on the disk when the call returns.
            RandomAccess.Write(handle!, slotBuffer, (long)nextSlot * SlotBytes);
            slots[nextSlot] = (commitNum, commitMetadata);
            nextSlot ^= 1;
            if (legacy is not null)
            {
                // The newest commit is here now; earlier versions' files are no longer needed.
                legacy.RemoveAllCommits();
                legacy.Dispose();
                legacy = null;
            }
        }
    }

    /// <summary>
    /// Opens the file for writing, creating it with both slots empty when it is missing or short, and
    /// makes its directory entry durable once per process: a file created before a crash and found
    /// again may still have a directory entry that was never synced.
    /// </summary>
    void Open()
    {
        bool folderExisted = Directory.Exists(directory);
        Directory.CreateDirectory(directory);
        handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, FileOptions.WriteThrough);
        if (RandomAccess.GetLength(handle) < 2 * SlotBytes)
        {
            // Only slots that are not records are written: a short file holds at most a torn first one.
            for (int slot = 0; slot < 2; slot++)
                if (slots[slot] is null)
                    RandomAccess.Write(handle, new byte[SlotBytes], (long)slot * SlotBytes);
        }
        if (!directorySynced)
        {
            SyncDirectory(directory);
            if (!folderExisted && Path.GetDirectoryName(Path.GetFullPath(directory)) is { } parent)
                SyncDirectory(parent);
            directorySynced = true;
        }
    }

    /// <summary>
    /// Makes a new file's directory entry durable: a synchronous write covers the file's data, not the
    /// name that finds it, and a commit file lost with its directory entry would start an empty journal.
    /// </summary>
    static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux())
            return;
        const int ReadOnlyDirectory = 0x10000 | 0x80000; // O_RDONLY | O_DIRECTORY | O_CLOEXEC (Linux)
        int fd = Native.open(directory, ReadOnlyDirectory);
        if (fd < 0)
            throw new IOException($"Cannot open {directory} to make the journal's commit file durable (errno {Marshal.GetLastPInvokeError()}).");
        try
        {
            if (Native.fsync(fd) != 0)
                throw new IOException($"fsync of {directory} failed (errno {Marshal.GetLastPInvokeError()}).");
        }
        finally
        {
            Native.close(fd);
        }
    }

    static class Native
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);
        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);
        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
    }

    /// <inheritdoc />
    public byte[] GetCommitMetadata(long commitNum)
    {
        lock (gate)
        {
            foreach (var s in slots)
                if (s is { } record && record.Number == commitNum)
                    return record.Metadata;
            return legacy?.GetCommitMetadata(commitNum)!;
        }
    }

    /// <inheritdoc />
    public IEnumerable<long> ListCommits()
    {
        lock (gate)
        {
            var numbers = slots.Where(s => s is not null).Select(s => s!.Value.Number).ToList();
            if (numbers.Count == 0 && legacy is not null)
                numbers.AddRange(LegacyCommits);
            return numbers.OrderByDescending(n => n).ToArray();
        }
    }

    /// <inheritdoc />
    public void RemoveCommit(long commitNum)
    {
        lock (gate)
        {
            for (int i = 0; i < 2; i++)
            {
                if (slots[i] is { } record && record.Number == commitNum)
                {
                    slots[i] = null;
                    if (handle is not null || File.Exists(path))
                    {
                        handle ??= File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, FileOptions.WriteThrough);
                        RandomAccess.Write(handle, new byte[SlotBytes], (long)i * SlotBytes);
                    }
                    nextSlot = i;
                }
            }
            legacy?.RemoveCommit(commitNum);
        }
    }

    /// <inheritdoc />
    public void RemoveAllCommits()
    {
        lock (gate)
        {
            handle?.Dispose();
            handle = null;
            File.Delete(path);
            slots[0] = slots[1] = null;
            nextSlot = 0;
            legacy?.RemoveAllCommits();
        }
    }

    /// <inheritdoc />
    public void OnRecovery(long commitNum)
    {
        // The next write must spare the record FASTER actually recovered from, even if the other slot
        // holds a higher number that FASTER could not use: that one is dropped and overwritten next.
        lock (gate)
        {
            for (int i = 0; i < 2; i++)
            {
                if (slots[i] is { } record && record.Number == commitNum)
                    nextSlot = i ^ 1;
                else if (slots[i] is { } other && other.Number > commitNum)
                    slots[i] = null;
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (gate)
        {
            handle?.Dispose();
            handle = null;
            legacy?.Dispose();
            legacy = null;
        }
    }
}
