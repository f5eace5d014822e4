using System.Text;
using Cdp.Server.Journal;
using Cdp.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// The journal in fast-commit mode: commits put their record in the log and only some write a
/// metadata file, so recovery must find the commits made after the newest metadata file in the log.
/// </summary>
public sealed class WriteJournalTests
{
    const long PageBytes = 1 << 20, MemoryBytes = 1 << 22, SegmentBytes = 1 << 26;

    [Fact]
    public async Task A_crash_image_taken_after_many_commits_recovers_every_acknowledged_entry()
    {
        var dir = TestServer.NewDataDir();
        var image = TestServer.NewDataDir();
        try
        {
            var written = new List<string>();
            var journal = new WriteJournal(Path.Combine(dir, "journal"), PageBytes, MemoryBytes, SegmentBytes, 0, NullLogger.Instance);
            try
            {
                for (int commit = 0; commit < 250; commit++)
                {
                    long last = 0;
                    for (int i = 0; i < 10; i++)
                    {
                        var text = $"entry {commit}/{i} " + new string('x', i * 7);
                        written.Add(text);
                        last = journal.Append(Encoding.UTF8.GetBytes(text));
                    }
                    await journal.WaitForCommitAsync(last);
                }
                // The files as a crash right now would leave them: the journal is still open and
                // gets no final commit.
                CopyDirectory(Path.Combine(dir, "journal"), Path.Combine(image, "journal"));
            }
            finally
            {
                journal.Dispose();
            }

            var metadata = Directory.GetFiles(Path.Combine(image, "journal", "commits"), "commit.*", SearchOption.AllDirectories)
                .Select(f => long.Parse(Path.GetFileName(f).Split('.')[1])).ToList();
            Assert.NotEmpty(metadata);
            // So the last ~50 commits are known only from their records in the log.
            Assert.True(metadata.Max() < 240, $"newest metadata file is commit {metadata.Max()}");

            using var recovered = new WriteJournal(Path.Combine(image, "journal"), PageBytes, MemoryBytes, SegmentBytes, 0, NullLogger.Instance);
            var read = recovered.Read(WriteJournal.FreshBeginAddress, recovered.CommittedUntilAddress)
                .Select(e => Encoding.UTF8.GetString(e.Entry)).ToList();
            Assert.Equal(written, read);

            // And the recovered journal goes on: a new entry commits and reads back after the old ones.
            long address = recovered.Append("after recovery"u8);
            await recovered.WaitForCommitAsync(address);
            Assert.Equal("after recovery", Encoding.UTF8.GetString(recovered.ReadEntry(address)!));
        }
        finally
        {
            TestServer.TryDelete(dir);
            TestServer.TryDelete(image);
        }
    }

    static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var sub in Directory.GetDirectories(from))
            CopyDirectory(sub, Path.Combine(to, Path.GetFileName(sub)));
    }
}
