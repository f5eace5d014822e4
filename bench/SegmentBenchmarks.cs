using BenchmarkDotNet.Attributes;
using Cdp.Server.Engine;
using Cdp.Server.Profiles;

namespace Cdp.Bench;

/// <summary>
/// The cost of a write when segments are defined: 10 segments, all reading the written trait, next to
/// 10,000 segments of which the same 10 read it (the rest read other traits). The dependency index
/// should make the two cost the same: a write evaluates only the rules reading what it changed.
/// Every write changes the trait's value, so memberships move in and out. 0 segments is the write alone.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1, 1)]
public class SegmentBenchmarks
{
    const int Profiles = 10_000;
    BenchmarkStore store = null!;
    EngineSession session = null!;
    readonly WriteCommand command = new();
    int round;

    /// <summary>Segments defined.</summary>
    [Params(0, 10, 10_000)]
    public int Segments { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // Defined in configuration, as an operator with many segments would; the 10 read the written trait,
        // the others read 100 other traits.
        store = new BenchmarkStore(Profiles, 1L << 30, o =>
        {
            o.Traits.Declared["score"] = "number";
            for (int t = 0; t < 100; t++)
                o.Traits.Declared[$"other{t}"] = "string";
            for (int k = 0; k < Math.Min(10, Segments); k++)
                o.Segments[$"score{k}"] = $"traits.score >= {k * 10}";
            for (int i = 10; i < Segments; i++)
                o.Segments[$"other{i}"] = $"traits.other{i % 100} = \"v{i}\"";
        });
        session = store.Engine.NewSession();
        store.Engine.Segments.WaitForBackfillsAsync().GetAwaiter().GetResult();
    }

    /// <summary>An identify that sets the score of an existing profile (a different value each round).</summary>
    [Benchmark(OperationsPerInvoke = Profiles)]
    public void IdentifyChangingAReadTrait()
    {
        round++;
        for (int i = 0; i < Profiles; i++)
        {
            command.Reset();
            command.Kind = WriteKind.Identify;
            command.AddIdentifier("email", BenchmarkStore.Email(i), "identifiers.email");
            command.AddTrait("score", TraitValue.Int((i * 7 + round * 13) % 100), "traits.score");
            session.Write(command);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        session.Dispose();
        store.Dispose();
    }
}
