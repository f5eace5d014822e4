namespace Cdp.Client;

/// <summary>The server's answer to an erasure.</summary>
/// <param name="ErasedId">The master id of the erased profile.</param>
/// <param name="Fragments">How many profiles merged into it were erased with it.</param>
public readonly record struct EraseResult(string ErasedId, int Fragments);
