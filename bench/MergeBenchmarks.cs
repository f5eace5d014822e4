using BenchmarkDotNet.Attributes;
using Cdp.Server.Engine;
using Cdp.Server.Profiles;

namespace Cdp.Bench;

/// <summary>
/// The cost of a write that merges two profiles (each of 20 traits and a few event counters: both
/// records read, combined and written once, the merged one's identifiers re-pointed and an alias
/// left), next to the same write to a profile that already holds both identifiers.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1, 1)]
public class MergeBenchmarks
{
    const int Pairs = 2_000;
    BenchmarkStore store = null!;
    EngineSession session = null!;
    readonly WriteCommand command = new();
    int round;

    [GlobalSetup]
    public void Setup()
    {
        store = new BenchmarkStore(0, 1L << 30);
        session = store.Engine.NewSession();
    }

    /// <summary>Two fresh profiles per pair: one by e-mail, one by anonymous id, both with traits and orders.</summary>
    [IterationSetup]
    public void MakePairs()
    {
        round++;
        for (int i = 0; i < Pairs; i++)
        {
            Write(WriteKind.Identify, ("email", $"m{round}-{i}@x.com"), null, withTraits: true);
            Write(WriteKind.Identify, ("anonymous_id", $"a{round}-{i}"), null, withTraits: true);
            Write(WriteKind.Track, ("email", $"m{round}-{i}@x.com"), null, withTraits: false);
            Write(WriteKind.Track, ("anonymous_id", $"a{round}-{i}"), null, withTraits: false);
        }
        // For the baseline: the pair already linked.
        for (int i = 0; i < Pairs; i++)
            Write(WriteKind.Track, ("email", $"k{round}-{i}@x.com"), ("anonymous_id", $"k{round}-{i}"), withTraits: true);
    }

    void Write(WriteKind kind, (string Type, string Value) id, (string Type, string Value)? second, bool withTraits)
    {
        command.Reset();
        command.Kind = kind;
        command.AddIdentifier(id.Type, id.Value, id.Type);
        if (second is { } s)
            command.AddIdentifier(s.Type, s.Value, s.Type);
        if (kind == WriteKind.Track)
            command.Event = "Order Completed";
        if (withTraits)
            for (int t = 0; t < 20; t++)
                command.AddTrait($"trait{t}", t % 3 == 0 ? TraitValue.Int(t) : TraitValue.String($"value-{t}-{id.Value}"), "traits");
        session.Write(command);
    }

    /// <summary>A track that names both profiles: merges them.</summary>
    [Benchmark(OperationsPerInvoke = Pairs)]
    public void TrackMergingTwoProfiles()
    {
        for (int i = 0; i < Pairs; i++)
            Write(WriteKind.Track, ("email", $"m{round}-{i}@x.com"), ("anonymous_id", $"a{round}-{i}"), withTraits: false);
    }

    /// <summary>The same track to a profile that already holds both identifiers.</summary>
    [Benchmark(OperationsPerInvoke = Pairs, Baseline = true)]
    public void TrackOneProfile()
    {
        for (int i = 0; i < Pairs; i++)
            Write(WriteKind.Track, ("email", $"k{round}-{i}@x.com"), ("anonymous_id", $"k{round}-{i}"), withTraits: false);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        session.Dispose();
        store.Dispose();
    }
}
