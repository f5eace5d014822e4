using System.Buffers.Binary;
using System.Text;
using Cdp.Server.Profiles;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// The table of shared trait values on its own: a value is shared only once enough distinct profiles
/// wrote it, its file survives a reopen and a torn last append, and damage or a foreign id is an error.
/// </summary>
public sealed class SharedValueTableTests
{
    static string NewFile(out string dir)
    {
        dir = TestServer.NewDataDir();
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, "values.log");
    }

    [Fact]
    public void A_value_is_shared_at_the_nth_distinct_profile_and_not_before()
    {
        var path = NewFile(out var dir);
        try
        {
            using var table = new SharedValueTable(path, minProfiles: 3, maxValues: 100, maxValueBytes: 64);
            Assert.Equal(-1, table.Observe("pro", 1));
            Assert.Equal(-1, table.Observe("pro", 1)); // the same profile again does not count
            Assert.Equal(-1, table.Observe("pro", 2));
            Assert.Equal(-1, table.Observe("pro", 2));
            Assert.Equal(0, table.Observe("pro", 3));
            Assert.Equal(0, table.Observe("pro", 1));
            Assert.Equal(0, table.TryGetId("pro"));
            Assert.Equal("pro", Encoding.UTF8.GetString(table.Get(0)));
            Assert.Equal(1, table.Count);
            Assert.Equal(-1, table.TryGetId("starter"));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void Only_shared_values_reach_the_file_and_they_survive_a_reopen()
    {
        var path = NewFile(out var dir);
        try
        {
            using (var table = new SharedValueTable(path, minProfiles: 2, maxValues: 100, maxValueBytes: 64))
            {
                table.Observe("Jane Rare-Name", 7);
                table.Observe("Kiel", 1);
                Assert.Equal(0, table.Observe("Kiel", 2));
                table.Observe("Gdańsk", 1);
                Assert.Equal(1, table.Observe("Gdańsk", 3));
            }
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(-1, bytes.AsSpan().IndexOf("Jane"u8));
            using (var table = new SharedValueTable(path, minProfiles: 2, maxValues: 100, maxValueBytes: 64))
            {
                Assert.Equal(2, table.Count);
                Assert.Equal(0, table.TryGetId("Kiel"));
                Assert.Equal("Gdańsk", Encoding.UTF8.GetString(table.Get(1)));
                // Counting starts over after a reopen (it is never written down), and ids continue.
                Assert.Equal(-1, table.Observe("Leeds", 1));
                Assert.Equal(2, table.Observe("Leeds", 2));
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void A_torn_last_append_is_cut_and_its_id_retired_not_handed_out_again()
    {
        var path = NewFile(out var dir);
        try
        {
            using (var table = new SharedValueTable(path, minProfiles: 1, maxValues: 100, maxValueBytes: 64))
                Assert.Equal(0, table.Observe("DE", 1));
            long whole = new FileInfo(path).Length;
            // A crash mid-append: the header of "FR" and one of its two bytes.
            using (var f = new FileStream(path, FileMode.Append))
            {
                var torn = new byte[7];
                BinaryPrimitives.WriteUInt16LittleEndian(torn, 2);
                torn[6] = (byte)'F';
                f.Write(torn);
            }
            using (var table = new SharedValueTable(path, minProfiles: 1, maxValues: 100, maxValueBytes: 64))
            {
                Assert.Equal(2, table.Count);
                Assert.Equal(whole + 6, new FileInfo(path).Length); // cut, and a tombstone in its place
                Assert.Contains("was lost", Assert.Throws<InvalidDataException>(() => table.Get(1)).Message);
                Assert.Equal(2, table.Observe("FR", 1));
            }
            using (var table = new SharedValueTable(path, minProfiles: 1, maxValues: 100, maxValueBytes: 64))
            {
                Assert.Equal(3, table.Count);
                Assert.Equal("DE", Encoding.UTF8.GetString(table.Get(0)));
                Assert.Equal("FR", Encoding.UTF8.GetString(table.Get(2)));
                Assert.Throws<InvalidDataException>(() => table.Get(1));
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void A_damaged_last_entry_reads_as_an_error_and_its_id_is_never_reused()
    {
        var path = NewFile(out var dir);
        try
        {
            using (var table = new SharedValueTable(path, minProfiles: 1, maxValues: 100, maxValueBytes: 64))
            {
                Assert.Equal(0, table.Observe("Kiel", 1));
                Assert.Equal(1, table.Observe("Leeds", 1));
            }
            var bytes = File.ReadAllBytes(path);
            bytes[^1] ^= 0x20; // "LeedS": whole, but its checksum fails. Records may hold id 1.
            File.WriteAllBytes(path, bytes);
            using var reopened = new SharedValueTable(path, minProfiles: 1, maxValues: 100, maxValueBytes: 64);
            Assert.Throws<InvalidDataException>(() => reopened.Get(1));
            Assert.Equal(-1, reopened.TryGetId("Leeds"));
            Assert.Equal(2, reopened.Observe("Leeds", 1));
            Assert.Equal("Kiel", Encoding.UTF8.GetString(reopened.Get(0)));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void Profiles_merged_since_they_were_counted_count_once()
    {
        var path = NewFile(out var dir);
        try
        {
            using var table = new SharedValueTable(path, minProfiles: 2, maxValues: 100, maxValueBytes: 64);
            ulong MergedInto1(ulong p) => p == 2 ? 1 : p;
            Assert.Equal(-1, table.Observe("Zebulon", 2, MergedInto1));
            Assert.Equal(-1, table.Observe("Zebulon", 1, MergedInto1)); // profile 2 is profile 1 now
            Assert.Equal(0, table.Count);
            Assert.Equal(0, table.Observe("Zebulon", 3, MergedInto1));
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void Damage_before_the_last_entries_refuses_to_open_and_a_foreign_id_is_an_error()
    {
        var path = NewFile(out var dir);
        try
        {
            using (var table = new SharedValueTable(path, minProfiles: 1, maxValues: 1000, maxValueBytes: 64))
            {
                for (int i = 0; i < 100; i++)
                    Assert.Equal(i, table.Observe($"value-{i:D3}-padding-to-forty-bytes-long", 1));
                var e = Assert.Throws<InvalidDataException>(() => table.Get(100));
                Assert.Contains("shared value 100", e.Message);
            }
            var bytes = File.ReadAllBytes(path);
            bytes[10] ^= 0xFF; // inside the first value: its checksum fails, and 99 entries follow
            File.WriteAllBytes(path, bytes);
            var error = Assert.Throws<InvalidDataException>(() => new SharedValueTable(path, minProfiles: 1, maxValues: 1000, maxValueBytes: 64));
            Assert.Contains("damaged after shared value 0", error.Message);
            Assert.Equal(bytes.Length, new FileInfo(path).Length); // nothing cut
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void Values_outside_the_limits_are_never_shared()
    {
        var path = NewFile(out var dir);
        try
        {
            using (var table = new SharedValueTable(path, minProfiles: 1, maxValues: 2, maxValueBytes: 8))
            {
                Assert.Equal(-1, table.Observe("x", 1));          // one byte: an id saves nothing
                Assert.Equal(-1, table.Observe("too long!", 1));  // nine bytes
                Assert.Equal(-1, table.Observe("ééééé", 1));      // five chars, ten bytes
                Assert.Equal(0, table.Observe("12345678", 1));
                Assert.Equal(1, table.Observe("bb", 1));
                Assert.Equal(-1, table.Observe("cc", 1));         // full
                Assert.Equal(2, table.Count);
            }
            // MinProfiles 0: nothing new is shared, but the values already shared still resolve.
            using (var table = new SharedValueTable(path, minProfiles: 0, maxValues: 2, maxValueBytes: 8))
            {
                Assert.Equal(-1, table.Observe("dd", 1));
                Assert.Equal(1, table.Observe("bb", 1));
            }
            var e = Assert.Throws<InvalidDataException>(() => new SharedValueTable(path, minProfiles: 1, maxValues: 1, maxValueBytes: 8));
            Assert.Contains("Store:MaxSharedValues", e.Message);
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }
}
