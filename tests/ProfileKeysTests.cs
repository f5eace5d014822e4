using Cdp.Server.Erasure;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>The key file: keys survive a reopen once flushed, a destroyed key is zeros on disk, a damaged file refuses to open.</summary>
public sealed class ProfileKeysTests
{
    [Fact]
    public void Keys_survive_a_reopen_and_a_destroyed_key_is_gone_from_the_file()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            var path = Path.Combine(dir, "keys", "profile.keys");
            var first = new byte[ProfileKeys.KeyBytes];
            var far = new byte[ProfileKeys.KeyBytes];
            using (var keys = new ProfileKeys(path))
            {
                Assert.False(keys.TryGet(1, first));
                keys.GetOrCreate(1, first);
                keys.GetOrCreate(9_000, far);
                var again = new byte[ProfileKeys.KeyBytes];
                keys.GetOrCreate(1, again);
                Assert.Equal(first, again);
                Assert.NotEqual(first, far);
                keys.AfterCommit(long.MaxValue);
            }
            using (var keys = new ProfileKeys(path))
            {
                var read = new byte[ProfileKeys.KeyBytes];
                Assert.True(keys.TryGet(1, read));
                Assert.Equal(first, read);
                Assert.True(keys.TryGet(9_000, read));
                Assert.Equal(far, read);
                // Destroyed only once the erasure's entry is durable.
                keys.DestroyAfterCommit([9_000], journalAddress: 500);
                keys.AfterCommit(500);
                Assert.True(keys.TryGet(9_000, read));
                keys.AfterCommit(501);
                Assert.False(keys.TryGet(9_000, read));
            }
            var bytes = File.ReadAllBytes(path);
            Assert.True(bytes.AsSpan(9_000 * ProfileKeys.KeyBytes, ProfileKeys.KeyBytes).IndexOfAnyExcept((byte)0) < 0);
            Assert.Equal(first, bytes.AsSpan(ProfileKeys.KeyBytes, ProfileKeys.KeyBytes).ToArray());
            Assert.True(bytes.AsSpan().IndexOf(far) < 0);

            // A torn last slot (a key whose flush never finished) is ignored; a foreign file is refused.
            File.AppendAllText(path, "torn");
            using (var keys = new ProfileKeys(path))
                Assert.True(keys.TryGet(1, new byte[ProfileKeys.KeyBytes]));
            File.WriteAllText(path, "not a key file at all, but long enough to have a header");
            var e = Assert.Throws<InvalidDataException>(() => new ProfileKeys(path));
            Assert.Contains("not a Cdp key file", e.Message);
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }
}
