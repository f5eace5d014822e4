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

        // The track write: one more of an event the profile has counted before.
        builder.Reset();
        builder.AddEvent(100, 300_000);
        int used = ProfileRecord.Merge(record, builder.Build(3, 300_000, 300_000, source: 0), destination, ComputedTraitCatalog.Empty, null);
        counted = destination[..used];
        builder.Reset();
        builder.AddEvent(100, 200_000);
        eventDelta = builder.Build(4, 400_000, 200_000, source: 0).ToArray();
        inPlace = new byte[counted.Length];
    }

    byte[] counted = [];
    byte[] eventDelta = [];
    byte[] inPlace = [];

    /// <summary>An event-only write through the full merge (every trait decoded and re-encoded).</summary>
    [Benchmark]
    [ZeroAllocation]
    public int MergeEventDelta() => ProfileRecord.Merge(counted, eventDelta, destination, ComputedTraitCatalog.Empty, null);

    /// <summary>The same write patched in place (StoreFunctions' fast path); includes copying the record first, so every call counts from the same state.</summary>
    [Benchmark]
    [ZeroAllocation]
    public int CountEventInPlace()
    {
        counted.CopyTo(inPlace, 0);
        return ProfileRecord.TryMergeEventsInPlace(inPlace, eventDelta) ? 1 : 0;
    }

    /// <summary>Applying one write (a trait and an event) to a typical profile.</summary>
    [Benchmark]
    [ZeroAllocation]
    public int MergeDelta() => ProfileRecord.Merge(record, delta, destination, ComputedTraitCatalog.Empty, null);

    /// <summary>Normalising an e-mail that needs trimming and lower-casing, as the lookup path does (UTF-8 in, UTF-8 out).</summary>
    [Benchmark]
    [ZeroAllocation]
    public int NormalizeEmail() => normalizer.Normalize(IdentifierTypes.Email, "  Ann.Smith@Example.COM "u8, normalized, "email");
}
