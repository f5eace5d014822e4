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
            Assert.Equal(-1, table.Resolve("pro", 1));
            Assert.Equal(-1, table.Resolve("pro", 1)); // the same profile again does not count
            Assert.Equal(-1, table.Resolve("pro", 2));
            Assert.Equal(-1, table.Resolve("pro", 2));
            Assert.Equal(0, table.Resolve("pro", 3));
            Assert.Equal(0, table.Resolve("pro", 1));
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
                table.Resolve("Jane Rare-Name", 7);
                table.Resolve("Kiel", 1);
                Assert.Equal(0, table.Resolve("Kiel", 2));
                table.Resolve("Gdańsk", 1);
                Assert.Equal(1, table.Resolve("Gdańsk", 3));
            }
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(-1, bytes.AsSpan().IndexOf("Jane"u8));
            using (var table = new SharedValueTable(path, minProfiles: 2, maxValues: 100, maxValueBytes: 64))
            {
                Assert.Equal(2, table.Count);
                Assert.Equal(0, table.TryGetId("Kiel"));
                Assert.Equal("Gdańsk", Encoding.UTF8.GetString(table.Get(1)));
                // Counting starts over after a reopen (it is never written down), and ids continue.
                Assert.Equal(-1, table.Resolve("Leeds", 1));
                Assert.Equal(2, table.Resolve("Leeds", 2));
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    [Fact]
    public void A_torn_last_append_is_dropped_and_the_next_value_takes_its_place()
    {
        var path = NewFile(out var dir);
        try
        {
            using (var table = new SharedValueTable(path, minProfiles: 1, maxValues: 100, maxValueBytes: 64))
                Assert.Equal(0, table.Resolve("DE", 1));
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
                Assert.Equal(1, table.Count);
                Assert.Equal(whole, new FileInfo(path).Length);
                Assert.Equal(1, table.Resolve("FR", 1));
            }
            using (var table = new SharedValueTable(path, minProfiles: 1, maxValues: 100, maxValueBytes: 64))
            {
                Assert.Equal(2, table.Count);
                Assert.Equal("FR", Encoding.UTF8.GetString(table.Get(1)));
            }
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
                    Assert.Equal(i, table.Resolve($"value-{i:D3}-padding-to-forty-bytes-long", 1));
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
                Assert.Equal(-1, table.Resolve("x", 1));          // one byte: an id saves nothing
                Assert.Equal(-1, table.Resolve("too long!", 1));  // nine bytes
                Assert.Equal(-1, table.Resolve("ééééé", 1));      // five chars, ten bytes
                Assert.Equal(0, table.Resolve("12345678", 1));
                Assert.Equal(1, table.Resolve("bb", 1));
                Assert.Equal(-1, table.Resolve("cc", 1));         // full
                Assert.Equal(2, table.Count);
            }
            // MinProfiles 0: nothing new is shared, but the values already shared still resolve.
            using (var table = new SharedValueTable(path, minProfiles: 0, maxValues: 2, maxValueBytes: 8))
            {
                Assert.Equal(-1, table.Resolve("dd", 1));
                Assert.Equal(1, table.Resolve("bb", 1));
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
