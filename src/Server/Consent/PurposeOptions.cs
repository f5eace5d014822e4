namespace Cdp.Server.Consent;

/// <summary>
/// One processing purpose (<c>Cdp:Purposes:{name}</c>): its legal basis and the fields a read for it
/// may see. Lists name fields exactly; <c>*</c> means all. What is not listed is not shown.
/// </summary>
public sealed class PurposeOptions
{
    /// <summary>
    /// Legal basis: <c>consent</c> (the default: the person must have consented to this purpose, or
    /// a read gets nothing), or <c>contract</c>, <c>legal_obligation</c>, <c>vital_interests</c>,
    /// <c>public_task</c>, <c>legitimate_interests</c> (no consent needed).
    /// </summary>
    public string Basis { get; set; } = "consent";

    /// <summary>Identifier types shown (<c>email</c>, <c>*</c>).</summary>
    public List<string> Identifiers { get; set; } = [];

    /// <summary>Traits shown.</summary>
    public List<string> Traits { get; set; } = [];

    /// <summary>Computed and derived traits shown.</summary>
    public List<string> Computed { get; set; } = [];

    /// <summary>Segments whose membership is shown.</summary>
    public List<string> Segments { get; set; } = [];
}
