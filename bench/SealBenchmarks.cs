using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Cdp.Server.Journal;

namespace Cdp.Bench;

/// <summary>
/// Sealing one ~300-byte journal entry under a key not seen just before, as a write to one of many
/// profiles does: .NET's AesGcm set up per key (the old way) against <see cref="EntryCipher"/>
/// re-keying one OpenSSL context.
/// </summary>
[MemoryDiagnoser]
public class SealBenchmarks
{
    const int Keys = 512;
    readonly byte[][] keys = new byte[Keys][];
    readonly byte[] plain = new byte[300];
    readonly byte[] sealedBytes = new byte[300];
    readonly byte[] nonce = new byte[12];
    readonly byte[] tag = new byte[16];
    readonly byte[] header = new byte[26];
    readonly EntryCipher cipher = new();
    int next;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        for (int i = 0; i < Keys; i++)
        {
            keys[i] = new byte[32];
            random.NextBytes(keys[i]);
        }
        random.NextBytes(plain);
    }

    [Benchmark(Baseline = true)]
    public void AesGcmPerKey()
    {
        using var gcm = new AesGcm(keys[next++ % Keys], 16);
        gcm.Encrypt(nonce, plain, sealedBytes, tag, header);
    }

    [Benchmark]
    [ZeroAllocation]
    public void EntryCipherRekeyed() => cipher.Encrypt(keys[next++ % Keys], nonce, plain, sealedBytes, tag, header);

    /// <summary>Sealing without clearing the key after each entry (a run of 16 forgets once, as a pipelined batch does).</summary>
    [Benchmark]
    [ZeroAllocation]
    public void EntryCipherRekeyedForgetPer16()
    {
        cipher.EncryptKeepingKey(keys[next++ % Keys], nonce, plain, sealedBytes, tag, header);
        if ((next & 15) == 0)
            cipher.Forget();
    }
}
