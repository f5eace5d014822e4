namespace Cdp.Server.Identity;

/// <summary>One identifier of a write as the engine resolves it.</summary>
/// <param name="Type">Identifier type id.</param>
/// <param name="Value">Normalised value.</param>
/// <param name="Owner">The profile it resolves to; 0 while unknown.</param>
/// <param name="Field">Where it was in the request, for errors and rejections.</param>
public readonly record struct WriteIdentifier(byte Type, string Value, ulong Owner, string Field);
