using System.Buffers;
using BenchmarkDotNet.Attributes;
using Cdp.Protocol;
using Cdp.Server.Binary;
using MessagePack;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdp.Bench;

/// <summary>
/// The binary lookup with and without a purpose: the same 100 GetProfile frames, once against a
/// server without purposes, once against one where each frame names a consent-based purpose that
/// may see 10 of the profile's 20 traits (consent checked, projection applied from precomputed
/// flags). The ratio is the cost of purpose-bound reads on the lookup path.
/// </summary>
[MemoryDiagnoser]
public class PurposeLookupBenchmarks
{
    const int Profiles = 1_000;
    const int BatchSize = LookupBenchmarks.BatchSize;

    BenchmarkStore store = null!;
    BinarySession session = null!;
    ReadOnlySequence<byte> requests;
    readonly ArrayBufferWriter<byte> replies = new(1 << 20);

    /// <summary>Whether the server has purposes and the frames name one.</summary>
    [Params(false, true)]
    public bool WithPurpose { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        store = new BenchmarkStore(Profiles, 1 << 26, o =>
        {
            if (!WithPurpose)
                return;
            o.Purposes["personalization"] = new Cdp.Server.Consent.PurposeOptions
            {
                Identifiers = ["email"],
                Traits = [.. Enumerable.Range(0, 10).Select(t => $"trait{t * 2}")],
            };
        }, consentTo: WithPurpose ? "personalization" : null);
        session = new BinarySession(store.Engine, NullLogger.Instance);
        var frames = new ArrayBufferWriter<byte>();
        RequestFrames.Hello(frames);
        var hello = new ReadOnlySequence<byte>(frames.WrittenMemory.ToArray());
        session.Consume(ref hello, replies);
        frames.ResetWrittenCount();
        for (int i = 0; i < BatchSize; i++)
        {
            int n = i * 7 % Profiles;
            RequestFrames.Append(frames, Opcode.GetProfile, (uint)i, (ref MessagePackWriter w) =>
            {
                w.WriteMapHeader(WithPurpose ? 3 : 2);
                w.Write("type");
                w.Write("email");
                w.Write("value");
                w.Write(BenchmarkStore.Email(n));
                if (WithPurpose)
                {
                    w.Write("purpose");
                    w.Write("personalization");
                }
            });
        }
        requests = new ReadOnlySequence<byte>(frames.WrittenMemory.ToArray());
        // The purpose must really be enforced: a reply is Ok and smaller than without it.
        replies.ResetWrittenCount();
        var check = requests;
        session.Consume(ref check, replies);
        if (FrameHeader.Read(replies.WrittenSpan).Status != Status.Ok)
            throw new InvalidOperationException("the lookup was refused");
    }

    /// <summary>One buffer of 100 lookups.</summary>
    [Benchmark(OperationsPerInvoke = BatchSize)]
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
