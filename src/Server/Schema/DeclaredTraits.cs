using System.Globalization;
using Cdp.Server.Hosting;
using Cdp.Server.Profiles;

namespace Cdp.Server.Schema;

/// <summary>The type a trait is declared with in configuration.</summary>
public enum DeclaredTraitType : byte
{
    /// <summary>A UTF-8 string.</summary>
    String,
    /// <summary>An integer or a float.</summary>
    Number,
    /// <summary>true or false.</summary>
    Bool,
    /// <summary>An instant: a timestamp value, or an ISO 8601 string with an offset (converted when written).</summary>
    Timestamp,
    /// <summary>A list of strings.</summary>
    List,
}

/// <summary>
/// The declared trait types (<c>Cdp:Traits:Declared</c>) and the check every written trait passes.
/// Undeclared traits take any type. Null is accepted for every trait: it records that the source
/// cleared the value.
/// </summary>
public sealed class DeclaredTraits
{
    readonly Dictionary<string, DeclaredTraitType> types;

    DeclaredTraits(Dictionary<string, DeclaredTraitType> types, bool partialWrites)
    {
        this.types = types;
        PartialWrites = partialWrites;
    }

    /// <summary>Whether a write with wrongly typed traits is applied without them (else rejected whole).</summary>
    public bool PartialWrites { get; }

    /// <summary>Number of declared traits.</summary>
    public int Count => types.Count;

    /// <summary>The declared type of <paramref name="name"/>, if any.</summary>
    public bool TryGetType(string name, out DeclaredTraitType type) => types.TryGetValue(name, out type);

    /// <summary>
    /// Checks <paramref name="value"/> against the declaration of <paramref name="name"/> and converts
    /// what has an unambiguous conversion (ISO 8601 strings to timestamps, integers stay numbers).
    /// Returns null when the value is acceptable, else why not.
    /// </summary>
    public string? Check(string name, ref TraitValue value)
    {
        if (!types.TryGetValue(name, out var type) || value.Kind == TraitKind.Null)
            return null;
        switch (type)
        {
            case DeclaredTraitType.String when value.Kind == TraitKind.String:
            case DeclaredTraitType.Number when value.Kind is TraitKind.Int or TraitKind.Double:
            case DeclaredTraitType.Bool when value.Kind is TraitKind.True or TraitKind.False:
            case DeclaredTraitType.Timestamp when value.Kind == TraitKind.Timestamp:
            case DeclaredTraitType.List when value.Kind == TraitKind.StringList:
                return null;
            case DeclaredTraitType.Timestamp when value.Kind == TraitKind.String:
                if (DateTimeOffset.TryParse(value.Text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
                    && value.Text!.Length >= 10 && char.IsAsciiDigit(value.Text[0]))
                {
                    value = TraitValue.Timestamp(t.ToUnixTimeMilliseconds());
                    return null;
                }
                return $"'{name}' is declared as a timestamp; '{Shorten(value.Text!)}' is not an ISO 8601 date and time.";
        }
        return $"'{name}' is declared as {TypeName(type)}, not {KindName(value.Kind)}.";
    }

    static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "...";

    /// <summary>The configuration name of a type.</summary>
    public static string TypeName(DeclaredTraitType t) => t switch
    {
        DeclaredTraitType.String => "string",
        DeclaredTraitType.Number => "number",
        DeclaredTraitType.Bool => "bool",
        DeclaredTraitType.Timestamp => "timestamp",
        _ => "list",
    };

    static string KindName(TraitKind k) => k switch
    {
        TraitKind.False or TraitKind.True => "a boolean",
        TraitKind.Int or TraitKind.Double => "a number",
        TraitKind.String => "a string",
        TraitKind.Timestamp => "a timestamp",
        TraitKind.StringList => "a list",
        _ => "null",
    };

    /// <summary>Validates the configured declarations.</summary>
    public static DeclaredTraits Create(TraitsOptions options)
    {
        var types = new Dictionary<string, DeclaredTraitType>(StringComparer.Ordinal);
        foreach (var (name, text) in options.Declared)
        {
            DeclaredTraitType? type = (text ?? "").Trim().ToLowerInvariant() switch
            {
                "string" => DeclaredTraitType.String,
                "number" => DeclaredTraitType.Number,
                "bool" or "boolean" => DeclaredTraitType.Bool,
                "timestamp" => DeclaredTraitType.Timestamp,
                "list" => DeclaredTraitType.List,
                _ => null,
            };
            if (type is null)
                throw new InvalidOperationException($"Configuration error: Traits:Declared:{name} is '{text}'; use string, number, bool, timestamp or list.");
            if (name.Length == 0 || System.Text.Encoding.UTF8.GetByteCount(name) > Cdp.Protocol.ProtocolLimits.MaxNameBytes)
                throw new InvalidOperationException($"Configuration error: Traits:Declared has a name of 0 or more than {Cdp.Protocol.ProtocolLimits.MaxNameBytes} bytes.");
            types[name] = type.Value;
        }
        return new DeclaredTraits(types, options.PartialWrites);
    }
}
