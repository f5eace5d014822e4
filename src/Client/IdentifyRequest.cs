namespace Cdp.Client;

/// <summary>
/// An Identify write (opcode <c>0x10</c>): links <see cref="Identifiers"/> to one profile and upserts
/// <see cref="Traits"/> on it.
/// </summary>
public sealed class IdentifyRequest
{
    /// <summary>Identifier type (<c>email</c>, <c>user_id</c>, ...) to value; 1 to 32 entries. The server normalises the values.</summary>
    public required IDictionary<string, string> Identifiers { get; set; }

    /// <summary>
    /// Traits to upsert. Values may be <see langword="null"/>, <see cref="bool"/>, integers, <see cref="float"/>/<see cref="double"/>,
    /// <see cref="string"/>, <see cref="DateTimeOffset"/>/<see cref="DateTime"/>, a sequence of strings, or a nested
    /// <see cref="IDictionary{TKey,TValue}"/> of <see cref="string"/> to <see cref="object"/> (stored under dotted names).
    /// </summary>
    public IDictionary<string, object?>? Traits { get; set; }

    /// <summary>
    /// Consent per purpose (<c>marketing</c> → true/false) stated by this write, with its source and time.
    /// An Identify with only identifiers and consent records consent and nothing else.
    /// </summary>
    public IDictionary<string, bool>? Consent { get; set; }

    /// <summary>When the source observed this; the server uses its receive time when absent. Traits keep the value with the latest timestamp.</summary>
    public DateTimeOffset? Timestamp { get; set; }

    /// <summary>Makes the write idempotent: a retry with the same id is answered with the first result and <see cref="WriteResult.Duplicate"/> set.</summary>
    public string? MessageId { get; set; }

    /// <summary>Who sends the write (e.g. <c>crm</c>, <c>shop</c>); the server keeps it with each trait as its provenance.</summary>
    public string? Source { get; set; }
}
