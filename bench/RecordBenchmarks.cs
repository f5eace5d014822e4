using Cdp.Server.Computed;
using BenchmarkDotNet.Attributes;
using Cdp.Server.Identity;
using Cdp.Server.Profiles;

namespace Cdp.Bench;

/// <summary>Pieces of the write path: merging a write's delta into a 20-trait record, and identifier normalisation.</summary>
[MemoryDiagnoser]
public class RecordBenchmarks
{
    byte[] record = [];
    byte[] delta = [];
    readonly byte[] destination = new byte[64 * 1024];
    readonly IdentifierNormalizer normalizer = new();
    readonly byte[] normalized = new byte[IdentifierNormalizer.MaxNormalizedBytes];

    [GlobalSetup]
    public void Setup()
    {
        var builder = new ProfileRecordBuilder();
        builder.AddIdentifier(IdentifierTypes.Email, "ann@example.com");
        for (ushort t = 1; t <= 20; t++)
            builder.AddTrait(t, t % 2 == 0 ? TraitValue.Int(t) : TraitValue.String("value " + t));
        builder.AddEvent(100, 1_000);
        record = builder.Build(1, 1_000, 1_000, source: 0).ToArray();
        builder.Reset();
        builder.AddTrait(5, TraitValue.String("changed"));
        builder.AddEvent(100, 2_000);
        delta = builder.Build(2, 2_000, 2_000, source: 0).ToArray();
    }

    /// <summary>Applying one write (a trait and an event) to a typical profile.</summary>
    [Benchmark]
    [ZeroAllocation]
    public int MergeDelta() => ProfileRecord.Merge(record, delta, destination, ComputedTraitCatalog.Empty);

    /// <summary>Normalising an e-mail that needs trimming and lower-casing, as the lookup path does (UTF-8 in, UTF-8 out).</summary>
    [Benchmark]
    [ZeroAllocation]
    public int NormalizeEmail() => normalizer.Normalize(IdentifierTypes.Email, "  Ann.Smith@Example.COM "u8, normalized, "email");
}
