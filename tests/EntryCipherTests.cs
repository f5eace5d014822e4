using System.Security.Cryptography;
using Cdp.Server.Journal;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// The journal's re-keyed AES-256-GCM (<see cref="EntryCipher"/>): straight OpenSSL on Linux, .NET's
/// <see cref="AesGcm"/> elsewhere. Both must be the same cipher, so a journal written by one opens with
/// the other, and neither may open anything altered.
/// </summary>
public class EntryCipherTests
{
    static byte[] Bytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Fact]
    public void This_machine_takes_the_native_path()
    {
        // CI runs on Linux with libcrypto 3; if this fails the server silently runs the slow path.
        Assert.True(!OperatingSystem.IsLinux() || new EntryCipher().IsNative, "libcrypto.so.3 was not bound");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(300)]
    [InlineData(70_000)]
    public void Native_and_managed_seal_the_same_bytes_and_open_each_others(int length)
    {
        using var native = new EntryCipher();
        using var managed = EntryCipher.CreateManaged();
        var plain = Bytes(length, length);
        var aad = Bytes(26, 1);
        for (int k = 0; k < 3; k++)
        {
            // A new key per call, as in the journal: the context must not keep anything of the last one.
            var key = Bytes(32, 100 + k);
            var nonce = Bytes(12, 200 + k);
            var (c1, t1) = (new byte[length], new byte[16]);
            var (c2, t2) = (new byte[length], new byte[16]);
            native.Encrypt(key, nonce, plain, c1, t1, aad);
            managed.Encrypt(key, nonce, plain, c2, t2, aad);
            Assert.Equal(c2, c1);
            Assert.Equal(t2, t1);
            using (var reference = new AesGcm(key, 16))
            {
                var check = new byte[length];
                reference.Decrypt(nonce, c1, t1, check, aad);
                Assert.Equal(plain, check);
            }
            var back = new byte[length];
            Assert.True(native.TryDecrypt(key, nonce, c2, t2, back, aad));
            Assert.Equal(plain, back);
            Assert.True(managed.TryDecrypt(key, nonce, c1, t1, back, aad));
            Assert.Equal(plain, back);
        }
    }

    [Fact]
    public void Nothing_altered_opens_and_a_failed_open_leaves_no_plaintext()
    {
        foreach (var cipher in new[] { new EntryCipher(), EntryCipher.CreateManaged() })
        {
            using var _ = cipher;
            var key = Bytes(32, 1);
            var nonce = Bytes(12, 2);
            var plain = Bytes(200, 3);
            var aad = Bytes(26, 4);
            var sealedBytes = new byte[200];
            var tag = new byte[16];
            cipher.Encrypt(key, nonce, plain, sealedBytes, tag, aad);

            var alterations = new List<(byte[] Key, byte[] Nonce, byte[] Text, byte[] Tag, byte[] Aad)>();
            byte[] Flip(byte[] b, int i) { var c = (byte[])b.Clone(); c[i] ^= 1; return c; }
            alterations.Add((Flip(key, 0), nonce, sealedBytes, tag, aad));
            alterations.Add((key, Flip(nonce, 11), sealedBytes, tag, aad));
            alterations.Add((key, nonce, Flip(sealedBytes, 100), tag, aad));
            alterations.Add((key, nonce, sealedBytes, Flip(tag, 15), aad));
            alterations.Add((key, nonce, sealedBytes, tag, Flip(aad, 3)));
            foreach (var (k, n, t, g, a) in alterations)
            {
                var output = new byte[200];
                Assert.False(cipher.TryDecrypt(k, n, t, g, output, a));
                Assert.All(output, b => Assert.Equal(0, b));
            }
            // And the context still works after the refusals.
            var back = new byte[200];
            Assert.True(cipher.TryDecrypt(key, nonce, sealedBytes, tag, back, aad));
            Assert.Equal(plain, back);
        }
    }

    [Fact]
    public void No_copy_of_a_key_stays_in_process_memory_after_a_seal_or_an_open()
    {
        if (!OperatingSystem.IsLinux())
            return;
        using var cipher = new EntryCipher();
        Assert.True(cipher.IsNative);
        // The key exists only XOR-masked in managed memory and unmasked on the stack for the calls,
        // so the search below can only find a copy that the cipher (OpenSSL's key schedule) kept.
        var masked = new byte[32];
        RandomNumberGenerator.Fill(masked);
        const byte Mask = 0x5A;
        var sealedBytes = new byte[300];
        var tag = new byte[16];
        Span<byte> key = stackalloc byte[32];
        for (int i = 0; i < 32; i++)
            key[i] = (byte)(masked[i] ^ Mask);
        cipher.Encrypt(key, new byte[12], new byte[300], sealedBytes, tag, new byte[26]);
        key.Clear();
        Assert.Equal(0, ProcessMemory.CountMasked(masked, Mask));

        for (int i = 0; i < 32; i++)
            key[i] = (byte)(masked[i] ^ Mask);
        Assert.True(cipher.TryDecrypt(key, new byte[12], sealedBytes, tag, new byte[300], new byte[26]));
        key.Clear();
        Assert.Equal(0, ProcessMemory.CountMasked(masked, Mask));

        // A run of seals (a pipelined batch) keeps the last key until Forget, and only until then.
        for (int i = 0; i < 32; i++)
            key[i] = (byte)(masked[i] ^ Mask);
        var again = new byte[300];
        var againTag = new byte[16];
        cipher.EncryptKeepingKey(key, new byte[12], new byte[300], again, againTag, new byte[26]);
        key.Clear();
        Assert.True(cipher.HoldsKey);
        Assert.True(ProcessMemory.CountMasked(masked, Mask) > 0, "the search finds a key the cipher keeps");
        cipher.Forget();
        Assert.False(cipher.HoldsKey);
        Assert.Equal(0, ProcessMemory.CountMasked(masked, Mask));
        Assert.Equal(sealedBytes, again);
        Assert.Equal(tag, againTag);
    }

    [Fact]
    public void Wrong_sizes_are_refused_and_a_disposed_cipher_throws()
    {
        var cipher = new EntryCipher();
        var output = new byte[10];
        Assert.Throws<ArgumentException>(() => cipher.Encrypt(new byte[16], new byte[12], new byte[10], output, new byte[16], default));
        Assert.Throws<ArgumentException>(() => cipher.Encrypt(new byte[32], new byte[8], new byte[10], output, new byte[16], default));
        Assert.Throws<ArgumentException>(() => cipher.Encrypt(new byte[32], new byte[12], new byte[11], output, new byte[16], default));
        bool native = cipher.IsNative;
        cipher.Dispose();
        if (native)
            Assert.Throws<ObjectDisposedException>(() => cipher.Encrypt(new byte[32], new byte[12], new byte[10], output, new byte[16], default));
    }
}

/// <summary>Searches this process's readable memory (Linux, /proc/self/mem) for a byte string.</summary>
static class ProcessMemory
{
    /// <summary>
    /// Occurrences of the bytes <c>masked[i] ^ mask</c>. The needle is compared as it is unmasked,
    /// one byte at a time, so the search never writes it anywhere it could then find.
    /// </summary>
    public static int CountMasked(byte[] masked, byte mask)
    {
        int found = 0;
        using var mem = new FileStream("/proc/self/mem", FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None);
        var chunk = new byte[1 << 20];
        byte first = (byte)(masked[0] ^ mask);
        foreach (var line in File.ReadAllLines("/proc/self/maps"))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || parts[1][0] != 'r' || line.Contains("[vvar") || line.Contains("[vsyscall]"))
                continue;
            var range = parts[0].Split('-');
            long start = Convert.ToInt64(range[0], 16), end = Convert.ToInt64(range[1], 16);
            for (long at = start; at < end; at += chunk.Length - masked.Length)
            {
                int want = (int)Math.Min(chunk.Length, end - at);
                int read;
                try
                {
                    mem.Position = at;
                    read = mem.Read(chunk, 0, want);
                }
                catch (IOException)
                {
                    break;
                }
                for (int i = 0; i + masked.Length <= read; i++)
                {
                    if (chunk[i] != first)
                        continue;
                    int j = 1;
                    while (j < masked.Length && chunk[i + j] == (byte)(masked[j] ^ mask))
                        j++;
                    if (j == masked.Length)
                        found++;
                }
                if (want < chunk.Length)
                    break;
            }
        }
        return found;
    }
}
