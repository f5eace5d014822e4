namespace Cdp.Client;

/// <summary>What a profile remembers about one event name.</summary>
/// <param name="Count">How many times the event was tracked.</param>
/// <param name="First">The earliest event timestamp seen.</param>
/// <param name="Last">The latest event timestamp seen.</param>
public readonly record struct EventStats(long Count, DateTimeOffset First, DateTimeOffset Last);
