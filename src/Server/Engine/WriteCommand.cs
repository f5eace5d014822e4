using Cdp.Protocol;
using Cdp.Server.Profiles;

namespace Cdp.Server.Engine;

/// <summary>Which write a <see cref="WriteCommand"/> is.</summary>
public enum WriteKind : byte
{
    /// <summary>Link identifiers and upsert traits.</summary>
    Identify = 1,
    /// <summary>Record an event.</summary>
    Track = 2,
    /// <summary>Split identifiers off a profile (journal only; never a client's write).</summary>
    Unmerge = 3,
    /// <summary>Erase a person: the profile, its merged fragments, identifiers and memberships (journal only).</summary>
    Erase = 4,
}

/// <summary>
/// A write as a transport parsed it, before the engine validates and resolves it. Transports fill it
/// through the <c>Add*</c> methods, which enforce the structural limits (names, duplicates, counts) so
/// both protocols reject the same inputs with the same errors. Reusable: <see cref="Reset"/> between writes.
/// </summary>
public sealed class WriteCommand
{
    readonly HashSet<string> traitNames = new(StringComparer.Ordinal);
    readonly HashSet<string> propertyNames = new(StringComparer.Ordinal);
    readonly HashSet<string> identifierTypes = new(StringComparer.Ordinal);

    /// <summary>Identify or Track.</summary>
    public WriteKind Kind { get; set; }

    /// <summary>Identifiers as given: type name, raw value and the field path to report errors against.</summary>
    public List<(string Type, string Value, string Field)> Identifiers { get; } = [];

    /// <summary>Traits, with nested maps already flattened to dotted names.</summary>
    public List<(string Name, TraitValue Value)> Traits { get; } = [];

    /// <summary>Event properties (Track), flattened like traits.</summary>
    public List<(string Name, TraitValue Value)> Properties { get; } = [];

    /// <summary>The event name (Track).</summary>
    public string? Event { get; set; }

    /// <summary>When the source observed the write (Unix ms); null means "when received".</summary>
    public long? Timestamp { get; set; }

    /// <summary>Idempotency key.</summary>
    public string? MessageId { get; set; }

    /// <summary>Who sends the write (a CRM, a shop, an app); kept with each trait as its provenance.</summary>
    public string? Source { get; set; }

    /// <summary>
    /// Consent statements the write carries (purpose, granted), from <c>PUT .../consent</c> or the
    /// Segment Spec's <c>context.consent.categoryPreferences</c>. The engine checks the purposes and
    /// stores each as the profile's consent, with the write's source and time as its provenance.
    /// </summary>
    public List<(string Purpose, bool Granted, string Field)> Consents { get; } = [];

    /// <summary>Clears the command for reuse.</summary>
    public void Reset()
    {
        Kind = default;
        Consents.Clear();
        Identifiers.Clear();
        Traits.Clear();
        Properties.Clear();
        traitNames.Clear();
        propertyNames.Clear();
        identifierTypes.Clear();
        Event = null;
        Timestamp = null;
        MessageId = null;
        Source = null;
    }

    /// <summary>Adds an identifier; a type may appear once per write.</summary>
    public void AddIdentifier(string type, string value, string field)
    {
        if (Identifiers.Count >= ProtocolLimits.MaxIdentifiers)
            throw EngineException.BadRequest(ErrorCode.TooMany, $"a write may carry at most {ProtocolLimits.MaxIdentifiers} identifiers.", field);
        if (!identifierTypes.Add(type))
            throw EngineException.BadRequest(ErrorCode.DuplicateKey, $"identifier type '{type}' is given twice.", field);
        Identifiers.Add((type, value, field));
    }

    /// <summary>Adds a trait under its flattened name.</summary>
    public void AddTrait(string name, TraitValue value, string field) => Add(Traits, traitNames, name, value, field);

    /// <summary>Adds an event property under its flattened name.</summary>
    public void AddProperty(string name, TraitValue value, string field) => Add(Properties, propertyNames, name, value, field);

    static void Add(List<(string, TraitValue)> list, HashSet<string> names, string name, TraitValue value, string field)
    {
        if (name.Length == 0)
            throw EngineException.BadRequest(ErrorCode.Malformed, "names must not be empty.", field);
        if (System.Text.Encoding.UTF8.GetByteCount(name) > ProtocolLimits.MaxNameBytes)
            throw EngineException.BadRequest(ErrorCode.TooLong, $"names are limited to {ProtocolLimits.MaxNameBytes} UTF-8 bytes.", field);
        if (list.Count >= ProtocolLimits.MaxCollectionCount)
            throw EngineException.BadRequest(ErrorCode.TooMany, $"at most {ProtocolLimits.MaxCollectionCount} values may be written at once.", field);
        if (!names.Add(name))
            throw EngineException.BadRequest(ErrorCode.DuplicateKey, $"'{name}' is given twice.", field);
        list.Add((name, value));
    }
}
