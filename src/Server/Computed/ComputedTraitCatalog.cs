using Cdp.Server.Hosting;
using Cdp.Server.Profiles;
using Cdp.Server.Schema;

namespace Cdp.Server.Computed;

/// <summary>
/// Every computed and derived trait of the configuration, with the storage ids their states live
/// under in profile records. Built once at start-up; immutable, shared by all sessions.
/// </summary>
public sealed class ComputedTraitCatalog
{
    readonly ComputedTraitDefinition?[] byStorageId;
    readonly int[] indexByStorageId;
    readonly ushort[] storageIds;
    readonly Dictionary<string, int> indexByName;

    ComputedTraitCatalog(ComputedTraitDefinition[] traits, ushort[] storageIds, DerivedTraitDefinition[] derived)
    {
        Traits = traits;
        this.storageIds = storageIds;
        Derived = derived;
        byStorageId = new ComputedTraitDefinition?[storageIds.Length == 0 ? 0 : storageIds.Max() + 1];
        indexByStorageId = new int[byStorageId.Length];
        for (int i = 0; i < traits.Length; i++)
        {
            byStorageId[storageIds[i]] = traits[i];
            indexByStorageId[storageIds[i]] = i;
        }
        indexByName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < traits.Length; i++)
            indexByName[traits[i].Name] = i;
        for (int i = 0; i < derived.Length; i++)
            indexByName[derived[i].Name] = traits.Length + i;
        Lookup = indexByName.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>No computed traits.</summary>
    public static ComputedTraitCatalog Empty { get; } = new([], [], []);

    /// <summary>Computed traits, in name order.</summary>
    public IReadOnlyList<ComputedTraitDefinition> Traits { get; }
    /// <summary>Derived values, in name order.</summary>
    public IReadOnlyList<DerivedTraitDefinition> Derived { get; }
    /// <summary>Computed traits and derived values together.</summary>
    public int Count => Traits.Count + Derived.Count;

    Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> Lookup { get; }

    /// <summary>The definition whose state is stored under <paramref name="storageId"/>; null for states of removed or changed definitions.</summary>
    public ComputedTraitDefinition? ByStorageId(ushort storageId) => storageId < byStorageId.Length ? byStorageId[storageId] : null;

    /// <summary>Index of the computed trait stored under <paramref name="storageId"/>; only for ids <see cref="ByStorageId"/> knows.</summary>
    public int IndexOfStorageId(ushort storageId) => indexByStorageId[storageId];

    /// <summary>Storage id of the computed trait at <paramref name="index"/>.</summary>
    public ushort StorageIdOf(int index) => storageIds[index];

    /// <summary>Index of a computed trait (0 .. Traits.Count-1) or derived value (after them) by name; -1 when none.</summary>
    public int IndexOf(ReadOnlySpan<char> name) => Lookup.TryGetValue(name, out int i) ? i : -1;

    /// <summary>UTF-8 name of the value at <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> Utf8NameOf(int index) => index < Traits.Count ? Traits[index].Utf8Name : Derived[index - Traits.Count].Utf8Name;

    /// <summary>Name of the value at <paramref name="index"/>.</summary>
    public string NameOf(int index) => index < Traits.Count ? Traits[index].Name : Derived[index - Traits.Count].Name;

    /// <summary>
    /// When any computed or derived value of <paramref name="record"/> next changes with time alone
    /// (no new event): the moment a windowed bucket enters or leaves its window, or the next local
    /// midnight of a days_since value with data. <see cref="long.MaxValue"/> when never.
    /// </summary>
    public long NextChange(ReadOnlySpan<byte> record, long now)
    {
        long next = long.MaxValue;
        var r = new ProfileRecordReader(record, null);
        Span<bool> present = Traits.Count <= 256 ? stackalloc bool[Traits.Count] : new bool[Traits.Count];
        while (r.NextComputed(out var id, out var state))
        {
            if (ByStorageId(id) is not { } d)
                continue;
            present[IndexOfStorageId(id)] = true;
            next = Math.Min(next, ComputedState.NextChange(d, state, now));
        }
        foreach (var derived in Derived)
        {
            bool hasSource = derived.FromComputed ? IndexOf(derived.SourceName) is int i && i >= 0 && i < present.Length && present[i] : HasTrait(record, derived.SourceName);
            if (hasSource)
                next = Math.Min(next, derived.NextChange(now));
        }
        return next;
    }

    Func<string, ushort?>? traitIdOf;

    bool HasTrait(ReadOnlySpan<byte> record, string name)
    {
        if (traitIdOf?.Invoke(name) is not { } id)
            return false;
        var r = new ProfileRecordReader(record, null);
        while (r.NextTrait(out var t))
            if (t.NameId == id)
                return t.Kind == TraitKind.Timestamp;
        return false;
    }

    /// <summary>Validates the configured computed and derived traits and interns their storage ids.</summary>
    public static ComputedTraitCatalog Create(CdpOptions options, SchemaRegistry schema)
    {
        static InvalidOperationException Bad(string message) => new("Configuration error: " + message);
        var traits = options.ComputedTraits.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => ComputedTraitDefinition.Create(p.Key, p.Value)).ToArray();
        var derived = options.DerivedTraits.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => DerivedTraitDefinition.Create(p.Key, p.Value)).ToArray();
        foreach (var d in derived)
        {
            if (traits.Any(t => t.Name == d.Name))
                throw Bad($"DerivedTraits:{d.Name}: a computed trait has the same name.");
            if (d.FromComputed)
            {
                var source = traits.FirstOrDefault(t => t.Name == d.SourceName)
                    ?? throw Bad($"DerivedTraits:{d.Name}:DaysSince names computed.{d.SourceName}, which is not configured.");
                if (source.Function is not (ComputedFunction.First or ComputedFunction.Last) || source.Property is not null)
                    throw Bad($"DerivedTraits:{d.Name}:DaysSince needs a timestamp; computed.{d.SourceName} is not a first or last without a Property.");
            }
            else if (options.Traits.Declared.TryGetValue(d.SourceName, out var type) && !string.Equals(type, "timestamp", StringComparison.OrdinalIgnoreCase))
                throw Bad($"DerivedTraits:{d.Name}:DaysSince names traits.{d.SourceName}, declared as {type}, not timestamp.");
        }
        var ids = traits.Select(t => schema.Intern(t.StorageName, "ComputedTraits:" + t.Name)).ToArray();
        return new ComputedTraitCatalog(traits, ids, derived)
        {
            traitIdOf = name => schema.TryGetId(name, out var id) ? id : null,
        };
    }
}
