namespace Cdp.Client;

/// <summary>The server's answer to an Identify or Track write.</summary>
/// <param name="Id">The master profile id the write was applied to.</param>
/// <param name="Created">True when this write made a new profile.</param>
/// <param name="Duplicate">True when the <c>messageId</c> had been seen before, so the write was not applied again.</param>
public readonly record struct WriteResult(string Id, bool Created, bool Duplicate)
{
    /// <summary>Traits the server left out of the write (only when it allows partial writes); null when none.</summary>
    public IReadOnlyList<ErrorBody>? Rejected { get; init; }
}
