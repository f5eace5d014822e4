using System.Buffers;
using BenchmarkDotNet.Attributes;
using Cdp.Server.Binary;
using Cdp.Server.Engine;
using Cdp.Server.Hosting;
using Cdp.Server.Profiles;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdp.Bench;

/// <summary>
/// The engine and the store without any protocol: reading a profile by e-mail (identity hop +
/// profile read), encoding it as the GetProfile reply, and writing an Identify that updates a trait
/// (resolve, read-modify-write of the record, journal append; the commit wait is not included).
/// </summary>
[MemoryDiagnoser]
public class StoreBenchmarks
{
    const int Profiles = 10_000;
    BenchmarkStore store = null!;
    EngineSession session = null!;
    readonly WriteCommand update = new();
    readonly ArrayBufferWriter<byte> reply = new(64 * 1024);
    byte[][] emails = [];
    int next;

    [GlobalSetup]
    public void Setup()
    {
        store = new BenchmarkStore(Profiles, 1 << 27);
        session = store.Engine.NewSession();
        emails = new byte[Profiles][];
        for (int i = 0; i < Profiles; i++)
            emails[i] = System.Text.Encoding.UTF8.GetBytes(BenchmarkStore.Email(i));
        update.Kind = WriteKind.Identify;
        update.AddIdentifier("email", "user7@example.com", "identifiers.email");
        update.AddTrait("trait1", TraitValue.String("changed"), "traits");
    }

    /// <summary>Identity hop and profile read into the session's buffer.</summary>
    [Benchmark]
    [ZeroAllocation]
    public int GetByEmail()
    {
        var view = session.GetProfile("email"u8, emails[next++ % Profiles]);
        return view!.Record.Length;
    }

    /// <summary>A profile read plus its encoding as the binary GetProfile reply (20 traits).</summary>
    [Benchmark]
    [ZeroAllocation]
    public int GetAndEncode()
    {
        reply.ResetWrittenCount();
        var view = session.GetProfile("email"u8, emails[next++ % Profiles]);
        BinaryResponseWriter.WriteProfile(reply, view!);
        return reply.WrittenCount;
    }

    /// <summary>An Identify that changes one trait of an existing profile (no commit wait).</summary>
    [Benchmark]
    public ulong UpdateTrait() => session.Write(update).MasterId;

    [GlobalCleanup]
    public void Cleanup()
    {
        session.Dispose();
        store.Dispose();
    }
}
