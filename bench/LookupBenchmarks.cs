using System.Buffers;
using BenchmarkDotNet.Attributes;
using Cdp.Protocol;
using Cdp.Server.Binary;
using Cdp.Server.Engine;
using Cdp.Server.Hosting;
using Cdp.Server.Profiles;
using MessagePack;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdp.Bench;

/// <summary>
/// The binary lookup path without sockets: a pre-built buffer of <see cref="BatchSize"/> GetProfile
/// frames (by e-mail, profiles of 20 traits) fed straight into a connection's <see cref="BinarySession"/>,
/// as Garnet's BDN suite does. With a batch of 100, 10 us per operation means 10 M lookups/s.
/// </summary>
[MemoryDiagnoser]
public class LookupBenchmarks
{
    const int Profiles = 1_000;
    /// <summary>Requests per buffer.</summary>
    public const int BatchSize = 100;

    BenchmarkStore store = null!;
    BinarySession session = null!;
    ReadOnlySequence<byte> requests;
    readonly ArrayBufferWriter<byte> replies = new(1 << 20);

    [GlobalSetup]
    public void Setup()
    {
        store = new BenchmarkStore(Profiles, 1 << 26);
        session = new BinarySession(store.Engine, NullLogger.Instance);
        var frames = new ArrayBufferWriter<byte>();
        RequestFrames.Hello(frames);
        var hello = new ReadOnlySequence<byte>(frames.WrittenMemory.ToArray());
        session.Consume(ref hello, replies);
        frames.ResetWrittenCount();
        for (int i = 0; i < BatchSize; i++)
        {
            int n = i * 7 % Profiles;
            RequestFrames.Append(frames, Opcode.GetProfile, (uint)i, (ref MessagePackWriter w) => { w.WriteMapHeader(2); w.Write("type"); w.Write("email"); w.Write("value"); w.Write(BenchmarkStore.Email(n)); });
        }
        requests = new ReadOnlySequence<byte>(frames.WrittenMemory.ToArray());
    }

    /// <summary>One buffer of <see cref="BatchSize"/> lookups, parsed, served from the store and answered.</summary>
    [Benchmark(OperationsPerInvoke = BatchSize)]
    [ZeroAllocation]
    public void GetProfileByEmail()
    {
        replies.ResetWrittenCount();
        var buffer = requests;
        session.Consume(ref buffer, replies);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        session.Dispose();
        store.Dispose();
    }
}
