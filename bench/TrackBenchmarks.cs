using BenchmarkDotNet.Attributes;
using Cdp.Server.Binary;
using Cdp.Server.Engine;
using MessagePack;

namespace Cdp.Bench;

/// <summary>
/// The engine side of the track load (loadtests' <c>track</c> scenario) without sockets: a binary Track
/// body parsed into a command and written (identity hop, event count on the record, journal entry
/// encoded, sealed and appended, history head moved; the commit wait is not included), each call on
/// the next of 10,000 stored profiles so the store is touched the way a uniform load touches it.
/// </summary>
[MemoryDiagnoser]
public class TrackBenchmarks
{
    const int Profiles = 10_000;
    BenchmarkStore store = null!;
    EngineSession session = null!;
    readonly WriteCommand command = new();
    ReadOnlyMemory<byte>[] bodies = [];
    int next;

    [GlobalSetup]
    public void Setup()
    {
        store = new BenchmarkStore(Profiles, 1 << 27);
        session = store.Engine.NewSession();
        bodies = new ReadOnlyMemory<byte>[Profiles];
        for (int i = 0; i < Profiles; i++)
            bodies[i] = Body(i);
    }

    /// <summary>The body the load harness sends: the e-mail, "Product Viewed", a SKU and a price.</summary>
    static byte[] Body(int i)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(buffer);
        w.WriteMapHeader(3);
        w.Write("identifiers");
        w.WriteMapHeader(1);
        w.Write("email");
        w.Write(BenchmarkStore.Email(i));
        w.Write("event");
        w.Write("Product Viewed");
        w.Write("properties");
        w.WriteMapHeader(2);
        w.Write("sku");
        w.Write("SKU-" + i % 1000);
        w.Write("price");
        w.Write(19.99);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Parsing a Track body into the session's command.</summary>
    [Benchmark]
    public int Parse()
    {
        BinaryRequestParser.ParseWrite(bodies[next++ % Profiles], WriteKind.Track, command);
        return command.Properties.Count;
    }

    /// <summary>Parsing and writing a Track of an existing profile.</summary>
    [Benchmark]
    public ulong ParseAndWrite()
    {
        BinaryRequestParser.ParseWrite(bodies[next++ % Profiles], WriteKind.Track, command);
        return session.Write(command).MasterId;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        session.Dispose();
        store.Dispose();
    }
}
