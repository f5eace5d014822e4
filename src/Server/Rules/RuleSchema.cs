namespace Cdp.Server.Rules;

/// <summary>
/// What a rule may name: traits (declared ones with their type, written but undeclared ones as
/// <see cref="RuleType.Any"/>), computed and derived traits, consent purposes and other segments.
/// </summary>
public sealed class RuleSchema(IReadOnlyDictionary<string, RuleType> traits, IReadOnlyDictionary<string, RuleType> computed,
    IReadOnlyCollection<string> purposes, IReadOnlyCollection<string> segments)
{
    /// <summary>Traits by name.</summary>
    public IReadOnlyDictionary<string, RuleType> Traits { get; } = traits;
    /// <summary>Computed and derived traits by name.</summary>
    public IReadOnlyDictionary<string, RuleType> Computed { get; } = computed;
    /// <summary>Consent purposes.</summary>
    public IReadOnlyCollection<string> Purposes { get; } = purposes;
    /// <summary>Segments a rule may read.</summary>
    public IReadOnlyCollection<string> Segments { get; } = segments;
}
