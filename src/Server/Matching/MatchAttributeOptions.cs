namespace Cdp.Server.Matching;

/// <summary>
/// One compared attribute as configured under <c>Cdp:Matching:Attributes:{name}</c>. Weights left
/// unset take the defaults of the kind (<see cref="MatchAttribute.DefaultWeights"/>).
/// </summary>
public sealed class MatchAttributeOptions
{
    /// <summary>The trait the attribute reads (e.g. <c>firstName</c>); defaults to the attribute's name.</summary>
    public string? Trait { get; set; }

    /// <summary>name, text, date, postcode, phone, number or id (<see cref="AttributeKind"/>).</summary>
    public string? Kind { get; set; }

    /// <summary>Log-weight added when the values agree exactly (log2 m/u); must be positive.</summary>
    public double? Agree { get; set; }

    /// <summary>
    /// Log-weight at similarity <see cref="PartialFrom"/>; it rises linearly to <see cref="Agree"/> as
    /// the similarity approaches 1.
    /// </summary>
    public double? Partial { get; set; }

    /// <summary>Log-weight added when the values disagree (log2 (1-m)/(1-u)); zero or negative.</summary>
    public double? Disagree { get; set; }

    /// <summary>Lowest similarity (0..1) that counts as a partial agreement rather than a disagreement.</summary>
    public double? PartialFrom { get; set; }

    /// <summary>
    /// Another attribute of the same kind whose value is sometimes entered in this one's place (given
    /// name and surname, two address lines); the pair is also compared crossed and the better reading kept.
    /// </summary>
    public string? SwapWith { get; set; }
}
