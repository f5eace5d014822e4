using System.Buffers.Binary;
using Cdp.Server.Journal;
using Cdp.Tests.Infrastructure;
using FASTER.core;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// The journal's commit records live in one file of two slots written in turn (<see cref="JournalCommitFile"/>):
/// a torn newest record must fall back to the one before, two damaged records must stop the journal
/// from opening, and journals written with FASTER's file per commit must still open.
/// </summary>
public sealed class JournalCommitFileTests
{
    const long PageBytes = 1L << 16;

    static WriteJournal Open(string dir) => new(dir, PageBytes, 4 * PageBytes, 1L << 20, commitIntervalMs: 1, NullLogger.Instance);

    static string CommitFile(string dir) => Path.Combine(dir, "commits", JournalCommitFile.FileName);

    static List<byte[]> Entries(WriteJournal journal) => journal.Read(journal.BeginAddress, journal.CommittedUntilAddress).Select(e => e.Entry).ToList();

    static byte[] Entry(int i) => BitConverter.GetBytes(i);

    /// <summary>Appends entries <paramref name="from"/>..<paramref name="to"/>-1 and commits them.</summary>
    static void AppendAndCommit(WriteJournal journal, int from, int to)
    {
        for (int i = from; i < to; i++)
            journal.Append(Entry(i));
        journal.CommitNow();
    }

    /// <summary>Slot index holding the highest commit number, read from the file's bytes.</summary>
    static int NewestSlot(byte[] file)
    {
        long Number(int slot) => BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(slot * JournalCommitFile.SlotBytes + 4));
        Assert.True(file.AsSpan(0, JournalCommitFile.SlotBytes).ContainsAnyExcept((byte)0));
        Assert.True(file.AsSpan(JournalCommitFile.SlotBytes, JournalCommitFile.SlotBytes).ContainsAnyExcept((byte)0));
        return Number(0) > Number(1) ? 0 : 1;
    }

    /// <summary>The commit number in each slot, 0 for an empty one.</summary>
    static (long, long) SlotNumbers(string dir)
    {
        var file = File.ReadAllBytes(CommitFile(dir));
        return (BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(4)), BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(JournalCommitFile.SlotBytes + 4)));
    }

    static byte[] Slot(string dir, int slot) => File.ReadAllBytes(CommitFile(dir)).AsSpan(slot * JournalCommitFile.SlotBytes, JournalCommitFile.SlotBytes).ToArray();

    [Fact]
    public void Each_commit_overwrites_the_slot_without_the_newest_record_also_after_reopening()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            using (var journal = Open(dir))
            {
                // Made with the journal, before anything is written: both slots empty.
                Assert.Equal((0L, 0L), SlotNumbers(dir));
                AppendAndCommit(journal, 0, 10);
                var (a0, a1) = SlotNumbers(dir);
                Assert.True(a0 > 0 && a1 == 0, $"{a0}/{a1}");
                AppendAndCommit(journal, 10, 20);
                var (b0, b1) = SlotNumbers(dir);
                Assert.True(b0 == a0 && b1 > a0, $"{b0}/{b1}");
                AppendAndCommit(journal, 20, 25);
                var (c0, c1) = SlotNumbers(dir);
                Assert.True(c0 > b1 && c1 == b1, $"{c0}/{c1}");
            }
            Assert.False(Directory.Exists(Path.Combine(dir, "commits", "log-commits")));
            Assert.Equal(2 * JournalCommitFile.SlotBytes, new FileInfo(CommitFile(dir)).Length);
            var (d0, d1) = SlotNumbers(dir);
            using (var journal = Open(dir))
            {
                Assert.Equal(Enumerable.Range(0, 25).Select(Entry), Entries(journal));
                AppendAndCommit(journal, 25, 30);
                // Slot 0 holds the newest record, so the commit after reopening goes to slot 1.
                var (e0, e1) = SlotNumbers(dir);
                Assert.True(e0 == d0 && e1 > d0, $"{d0}/{d1} -> {e0}/{e1}");
            }
            using (var journal = Open(dir))
                Assert.Equal(Enumerable.Range(0, 30).Select(Entry), Entries(journal));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void A_torn_newest_commit_record_falls_back_to_the_commit_before_it()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            byte[] file;
            using (var journal = Open(dir))
            {
                AppendAndCommit(journal, 0, 10);
                AppendAndCommit(journal, 10, 20);
                file = File.ReadAllBytes(CommitFile(dir));
            }
            // Tear the second commit's record as a crash in the middle of its write would.
            int newest = NewestSlot(file);
            file.AsSpan(newest * JournalCommitFile.SlotBytes + 20, 8).Fill(0xEE);
            File.WriteAllBytes(CommitFile(dir), file);

            var survivor = Slot(dir, newest ^ 1);
            using var reopened = Open(dir);
            // Only the first batch: the second's record is gone, so its entries were never acknowledged.
            Assert.Equal(Enumerable.Range(0, 10).Select(Entry), Entries(reopened));
            // The journal goes on from there; the next commit overwrites the torn slot, not the survivor.
            AppendAndCommit(reopened, 100, 105);
            Assert.Equal(survivor, Slot(dir, newest ^ 1));
            Assert.True(SlotNumbers(dir) is var (n0, n1) && (newest == 0 ? n0 > n1 : n1 > n0), "the torn slot holds the newest record");
            Assert.Equal(Enumerable.Range(0, 10).Concat(Enumerable.Range(100, 5)).Select(Entry), Entries(reopened));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void Two_damaged_commit_records_stop_the_journal_from_opening()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            using (var journal = Open(dir))
            {
                AppendAndCommit(journal, 0, 10);
                AppendAndCommit(journal, 10, 20);
            }
            var file = File.ReadAllBytes(CommitFile(dir));
            file.AsSpan(20, 8).Fill(0xEE);
            file.AsSpan(JournalCommitFile.SlotBytes + 20, 8).Fill(0xEE);
            File.WriteAllBytes(CommitFile(dir), file);

            var e = Assert.Throws<InvalidDataException>(() => Open(dir));
            Assert.Contains("commit file", e.Message);
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void A_torn_first_commit_record_next_to_an_empty_slot_opens_an_empty_journal()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "commits"));
            var file = new byte[2 * JournalCommitFile.SlotBytes];
            file.AsSpan(0, 40).Fill(0x5A);
            File.WriteAllBytes(CommitFile(dir), file);

            using var journal = Open(dir);
            Assert.Empty(Entries(journal));
            AppendAndCommit(journal, 0, 3);
            Assert.Equal(3, Entries(journal).Count);
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void A_journal_with_a_commit_file_per_commit_opens_and_moves_to_the_two_slot_file()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            WriteLegacyJournal(dir, 12);
            var legacy = Path.Combine(dir, "commits", "log-commits");
            Assert.NotEmpty(Directory.GetFiles(legacy));
            Assert.False(File.Exists(CommitFile(dir)));

            using (var journal = Open(dir))
            {
                Assert.Equal(Enumerable.Range(0, 12).Select(Entry), Entries(journal));
                AppendAndCommit(journal, 12, 15);
                // The first commit in the new file retires the old ones.
                Assert.Empty(Directory.GetFiles(legacy));
            }
            using (var journal = Open(dir))
                Assert.Equal(Enumerable.Range(0, 15).Select(Entry), Entries(journal));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public async Task A_commit_record_that_cannot_be_written_fails_the_journal_instead_of_hanging_it()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            using var journal = Open(dir);
            AppendAndCommit(journal, 0, 3);
            journal.CommitFileForTests.FailNextWriteForTests = new IOException("no space left on device");
            long address = journal.Append(Entry(3));
            // A bound, not a synchronisation: without the fix this wait never ends.
            var e = await Assert.ThrowsAsync<JournalFailedException>(() => journal.WaitForCommitAsync(address).AsTask().WaitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains("no space left on device", e.Message);
            Assert.NotNull(journal.Failure);
            Assert.Throws<JournalFailedException>(() => journal.Append(Entry(4)));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void A_journal_with_entries_but_no_commit_file_does_not_open()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            using (var journal = Open(dir))
                AppendAndCommit(journal, 0, 10);
            File.Delete(CommitFile(dir));
            var e = Assert.Throws<InvalidDataException>(() => Open(dir));
            Assert.Contains("commit file", e.Message);
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void A_damaged_commit_file_of_an_earlier_version_does_not_open_on_garbage()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            WriteLegacyJournal(dir, 12);
            var legacyFile = Directory.GetFiles(Path.Combine(dir, "commits", "log-commits")).Single();
            var bytes = File.ReadAllBytes(legacyFile);
            bytes.AsSpan(8, 8).Fill(0xEE);
            File.WriteAllBytes(legacyFile, bytes);

            var e = Assert.Throws<InvalidDataException>(() => Open(dir));
            Assert.Contains("damaged", e.Message);
            Assert.True(File.Exists(legacyFile), "the damaged record is kept for whoever repairs the folder");
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void Damaged_old_commit_files_left_by_a_crash_after_the_first_new_commit_do_not_stop_the_journal()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            WriteLegacyJournal(dir, 12);
            var legacyFile = Directory.GetFiles(Path.Combine(dir, "commits", "log-commits")).Single();
            var leftover = File.ReadAllBytes(legacyFile);
            using (var journal = Open(dir))
                AppendAndCommit(journal, 12, 15);
            // The crash came between the new record and the deletion, and the old file is damaged too.
            leftover.AsSpan(8, 8).Fill(0xEE);
            File.WriteAllBytes(legacyFile, leftover);

            using (var journal = Open(dir))
            {
                Assert.Equal(Enumerable.Range(0, 15).Select(Entry), Entries(journal));
                AppendAndCommit(journal, 15, 16);
            }
            Assert.Empty(Directory.GetFiles(Path.Combine(dir, "commits", "log-commits")));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void The_begin_address_after_a_truncation_comes_back_from_the_commit_file()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            long begin;
            using (var journal = Open(dir))
            {
                var addresses = Enumerable.Range(0, 10).Select(i => journal.Append(Entry(i))).ToArray();
                journal.CommitNow();
                begin = addresses[5];
                journal.TruncateUntil(begin);
            }
            using var reopened = Open(dir);
            Assert.Equal(begin, reopened.BeginAddress);
            Assert.Equal(Enumerable.Range(5, 5).Select(Entry), Entries(reopened));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    /// <summary>What earlier versions wrote: FASTER's default commit manager (a file per commit) in journal/commits.</summary>
    static void WriteLegacyJournal(string dir, int entries)
    {
        using var device = Devices.CreateLogDevice(Path.Combine(dir, "journal.log"), preallocateFile: false);
        using var log = new FasterLog(new FasterLogSettings
        {
            LogDevice = device,
            PageSize = PageBytes,
            MemorySize = 4 * PageBytes,
            SegmentSize = 1L << 20,
            LogCommitDir = Path.Combine(dir, "commits"),
            LogChecksum = LogChecksumType.PerEntry,
        });
        for (int i = 0; i < entries; i++)
            log.Enqueue(Entry(i));
        log.Commit(spinWait: true);
    }
}
