namespace Cdp.Client;

/// <summary>
/// A Track write (opcode <c>0x11</c>): records <see cref="Event"/> on the profile the identifiers resolve to,
/// creating the profile when none matches.
/// </summary>
public sealed class TrackRequest
{
    /// <summary>Identifier type to value, as in <see cref="IdentifyRequest.Identifiers"/>.</summary>
    public required IDictionary<string, string> Identifiers { get; set; }

    /// <summary>The event name, for example <c>"Order Completed"</c> (1 to 256 UTF-8 bytes).</summary>
    public required string Event { get; set; }

    /// <summary>Event properties; the same value types as <see cref="IdentifyRequest.Traits"/>. Kept in the server's journal.</summary>
    public IDictionary<string, object?>? Properties { get; set; }

    /// <summary>When the event happened; the server uses its receive time when absent.</summary>
    public DateTimeOffset? Timestamp { get; set; }

    /// <summary>Makes the write idempotent, as in <see cref="IdentifyRequest.MessageId"/>.</summary>
    public string? MessageId { get; set; }

    /// <summary>Who sends the write (e.g. <c>crm</c>, <c>shop</c>); the server keeps it with each trait as its provenance.</summary>
    public string? Source { get; set; }
}
