using Cdp.Server.Computed;
using Cdp.Server.Identity;
using Cdp.Server.Schema;

namespace Cdp.Server.Consent;

/// <summary>
/// A purpose compiled for reads: which traits, computed traits, identifier types and segments it may
/// see, as flags indexed by id, so projecting a profile for it costs one array read per field.
/// </summary>
public sealed class PurposePolicy
{
    readonly bool allTraits;
    readonly bool[] traits;
    readonly bool[] computed;
    readonly bool allIdentifiers;
    readonly bool[] identifiers = new bool[256];
    readonly bool allSegments;
    readonly HashSet<string> segments;

    internal PurposePolicy(string name, PurposeOptions o, SchemaRegistry schema, ComputedTraitCatalog catalog, IdentifierTypes types, int schemaCapacity)
    {
        static InvalidOperationException Bad(string message) => new("Configuration error: " + message);
        Name = name;
        Basis = o.Basis;
        RequiresConsent = o.Basis switch
        {
            "consent" => true,
            "contract" or "legal_obligation" or "vital_interests" or "public_task" or "legitimate_interests" => false,
            _ => throw Bad($"Purposes:{name}:Basis must be consent, contract, legal_obligation, vital_interests, public_task or legitimate_interests, not '{o.Basis}'."),
        };
        ConsentId = schema.Intern(SchemaRegistry.ConsentPrefix + name, "Purposes:" + name);
        allTraits = o.Traits.Contains("*");
        traits = new bool[schemaCapacity + 1];
        foreach (var t in o.Traits.Where(t => t != "*"))
        {
            if (t.StartsWith(SchemaRegistry.ConsentPrefix, StringComparison.Ordinal))
                throw Bad($"Purposes:{name}:Traits: '{t}' is a consent, not a trait.");
            traits[schema.Intern(t, $"Purposes:{name}:Traits")] = true;
        }
        computed = new bool[catalog.Count];
        foreach (var c in o.Computed)
        {
            if (c == "*")
                Array.Fill(computed, true);
            else if (catalog.IndexOf(c) is var index and >= 0)
                computed[index] = true;
            else
                throw Bad($"Purposes:{name}:Computed names '{c}', which is not a configured computed or derived trait.");
        }
        allIdentifiers = o.Identifiers.Contains("*");
        foreach (var i in o.Identifiers.Where(i => i != "*"))
        {
            if (!types.TryGetId(i, out byte id))
                throw Bad($"Purposes:{name}:Identifiers names '{i}', which is not an identifier type.");
            identifiers[id] = true;
        }
        allSegments = o.Segments.Contains("*");
        segments = new HashSet<string>(o.Segments.Where(s => s != "*"), StringComparer.Ordinal);
    }

    /// <summary>Purpose name.</summary>
    public string Name { get; }
    /// <summary>Legal basis as configured.</summary>
    public string Basis { get; }
    /// <summary>Whether a read for this purpose needs the person's consent.</summary>
    public bool RequiresConsent { get; }
    /// <summary>Name id under which the profile's consent to this purpose is stored.</summary>
    public ushort ConsentId { get; }

    /// <summary>Whether the trait with this name id may be shown.</summary>
    public bool AllowsTrait(ushort nameId) => allTraits || traits[nameId];
    /// <summary>Whether the computed value at this catalog index may be shown.</summary>
    public bool AllowsComputed(int index) => computed[index];
    /// <summary>Whether identifiers of this type may be shown.</summary>
    public bool AllowsIdentifier(byte type) => allIdentifiers || identifiers[type];
    /// <summary>Whether membership of this segment may be shown.</summary>
    public bool AllowsSegment(string segment) => allSegments || segments.Contains(segment);
}
