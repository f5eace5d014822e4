namespace Cdp.Server.Matching;

/// <summary>
/// The compared attribute values of one write, normalised (<see cref="ValueNormalizer"/>) and held
/// by attribute ordinal; a missing or blank trait is a null value. Immutable, so the index can share
/// it between threads; equal records are one variant.
/// </summary>
public sealed class MatchRecord : IEquatable<MatchRecord>
{
    readonly string?[] values;
    readonly int hash;

    internal MatchRecord(MatchModel model, string?[] values)
    {
        Model = model;
        this.values = values;
        var h = new HashCode();
        foreach (var v in values)
        {
            h.Add(v, StringComparer.Ordinal);
            if (v is not null)
                PresentCount++;
        }
        hash = h.ToHashCode();
    }

    /// <summary>Reads the model's attributes from a write's traits (trait name to string value).</summary>
    /// <remarks>Traits the model does not compare are ignored; the first non-blank value of a trait wins.</remarks>
    public static MatchRecord From(MatchModel model, IEnumerable<KeyValuePair<string, string>> traits)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(traits);
        var values = new string?[model.Attributes.Count];
        foreach (var (trait, raw) in traits)
        {
            if (!model.TryGetAttributes(trait, out var ordinals))
                continue;
            foreach (int ordinal in ordinals)
                values[ordinal] ??= model.Attributes[ordinal].Normalize(raw);
        }
        return new MatchRecord(model, values);
    }

    /// <summary>The model whose attributes the values follow.</summary>
    public MatchModel Model { get; }

    /// <summary>The normalised value of the attribute at <paramref name="ordinal"/>, or null.</summary>
    public string? this[int ordinal] => values[ordinal];

    /// <summary>The normalised value of the named attribute, or null.</summary>
    public string? this[string attribute] => Model.Find(attribute) is { } a ? values[a.Ordinal] : null;

    /// <summary>How many attributes have a value.</summary>
    public int PresentCount { get; }

    /// <summary>True when no compared trait had a value: such a write is never matched.</summary>
    public bool IsEmpty => PresentCount == 0;

    /// <inheritdoc/>
    public bool Equals(MatchRecord? other)
    {
        if (other is null || other.hash != hash || other.values.Length != values.Length)
            return false;
        for (int i = 0; i < values.Length; i++)
        {
            if (!string.Equals(values[i], other.values[i], StringComparison.Ordinal))
                return false;
        }
        return true;
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as MatchRecord);

    /// <inheritdoc/>
    public override int GetHashCode() => hash;

    /// <inheritdoc/>
    public override string ToString() =>
        string.Join(", ", Model.Attributes.Where(a => values[a.Ordinal] is not null).Select(a => $"{a.Name}={values[a.Ordinal]}"));
}
