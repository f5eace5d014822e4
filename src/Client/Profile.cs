namespace Cdp.Client;

/// <summary>A profile as returned by GetProfile (opcode <c>0x20</c>).</summary>
public sealed class Profile
{
    /// <summary>The master profile id.</summary>
    public required string Id { get; init; }

    /// <summary>Every identifier linked to the profile, by type (normalised values).</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<string>> Identifiers { get; init; }

    /// <summary>
    /// Traits by name (nested maps come back flattened to dotted names). Values are <see langword="null"/>,
    /// <see cref="bool"/>, <see cref="long"/>, <see cref="double"/>, <see cref="string"/>, <see cref="DateTimeOffset"/>,
    /// <see cref="T:string[]"/> or <see cref="Dictionary{TKey,TValue}"/> of <see cref="string"/> to <see cref="object"/>.
    /// </summary>
    public required IReadOnlyDictionary<string, object?> Traits { get; init; }

    /// <summary>Per event name: count, first and last timestamp.</summary>
    public required IReadOnlyDictionary<string, EventStats> Events { get; init; }

    /// <summary>Computed traits and derived values as of the read (empty when the server has none configured).</summary>
    public IReadOnlyDictionary<string, object?> Computed { get; init; } = new Dictionary<string, object?>();

    /// <summary>When the profile was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When the profile last changed.</summary>
    public DateTimeOffset UpdatedAt { get; init; }
}
