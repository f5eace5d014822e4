using Cdp.Protocol;
using Cdp.Server.Computed;
using Cdp.Server.Engine;
using Cdp.Server.Identity;
using Cdp.Server.Schema;

namespace Cdp.Server.Consent;

/// <summary>
/// The configured purposes. With none configured, reads are not bound to a purpose (a development
/// set-up); with any configured, every read must name one, and gets only what it may see.
/// </summary>
public sealed class PurposeCatalog
{
    readonly Dictionary<string, PurposePolicy> byName;
    readonly (byte[] Utf8, PurposePolicy Policy)[] utf8Names;

    internal PurposeCatalog(IReadOnlyDictionary<string, PurposeOptions> options, SchemaRegistry schema, ComputedTraitCatalog catalog, IdentifierTypes types, int schemaCapacity)
    {
        byName = new Dictionary<string, PurposePolicy>(StringComparer.Ordinal);
        foreach (var (name, o) in options.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
                throw new InvalidOperationException($"Configuration error: Purposes:{name}: a purpose name is 1-64 letters, digits, '_' or '-'.");
            byName[name] = new PurposePolicy(name, o, schema, catalog, types, schemaCapacity);
        }
        utf8Names = [.. byName.Values.Select(p => (System.Text.Encoding.UTF8.GetBytes(p.Name), p))];
    }

    /// <summary>Whether any purpose is configured (reads must then name one).</summary>
    public bool Enforced => byName.Count > 0;

    /// <summary>Purpose names.</summary>
    public IReadOnlyCollection<string> Names => byName.Keys;

    /// <summary>The policy a binary read runs under: as <see cref="ForRead(string?)"/>, by UTF-8 name, without allocating when it is found.</summary>
    public PurposePolicy? ForRead(ReadOnlySpan<byte> purpose)
    {
        if (!Enforced)
            return null;
        foreach (var (utf8, policy) in utf8Names)
            if (purpose.SequenceEqual(utf8))
                return policy;
        return ForRead(purpose.IsEmpty ? null : System.Text.Encoding.UTF8.GetString(purpose));
    }

    /// <summary>The purpose whose name equals <paramref name="name"/> ignoring case, or null.</summary>
    public PurposePolicy? FindIgnoringCase(string name)
        => byName.Values.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The policy of a purpose, or null when it is not configured.</summary>
    public PurposePolicy? Find(string name) => byName.GetValueOrDefault(name);

    /// <summary>
    /// The policy a read runs under: null when no purposes are configured; otherwise the named one,
    /// and an error when the read names none or an unknown one.
    /// </summary>
    public PurposePolicy? ForRead(string? purpose)
    {
        if (!Enforced)
            return null;
        if (string.IsNullOrEmpty(purpose))
            throw EngineException.BadRequest(ErrorCode.Missing, $"a read must name its purpose (one of: {string.Join(", ", byName.Keys)}).", "purpose");
        return Find(purpose) ?? throw EngineException.BadRequest(ErrorCode.UnknownPurpose, $"'{purpose}' is not a configured purpose (one of: {string.Join(", ", byName.Keys)}).", "purpose");
    }
}
