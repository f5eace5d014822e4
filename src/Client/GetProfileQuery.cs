namespace Cdp.Client;

/// <summary>The arguments of one GetProfile request, carried as a single state value into the frame encoder.</summary>
internal readonly record struct GetProfileQuery(string Type, string Value, IReadOnlyList<string>? Fields, string? Purpose);
