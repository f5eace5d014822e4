using System.Text.RegularExpressions;
using Cdp.Server.Hosting;

namespace Cdp.Server.Identity;

/// <summary>
/// The identity rules of <c>Cdp:Identity</c>: per identifier type how many values one profile may
/// hold and which type wins when not everything can be linked, the junk values that are never
/// linked, and a cap on identifiers per profile. Only limits decide whether profiles merge, so
/// two profiles with different user ids never become one, whatever else they share.
/// </summary>
public sealed class IdentityRules
{
    /// <summary>Values tracking code sends when it has nothing: linking on them would merge strangers.</summary>
    public static readonly string[] DefaultBlocklist =
        ["null", "undefined", "none", "nil", "nan", "0", "-1", "n/a", "na", "unknown", "[object object]", "true", "false", "anonymous"];

    readonly int[] maxValues = new int[256];
    readonly int[] priorities = new int[256];
    readonly HashSet<string>[] blocklists = new HashSet<string>[256];
    readonly Regex[][] patterns = new Regex[256][];

    /// <summary>Most identifiers one profile holds.</summary>
    public int MaxIdentifiersPerProfile { get; }

    /// <summary>Builds the rules; throws naming the setting when one is invalid.</summary>
    public IdentityRules(IdentityOptions options, IdentifierTypes types)
    {
        static InvalidOperationException Error(string message) => new("Configuration error: Identity:" + message);
        if (options.MaxIdentifiersPerProfile is < 1 or > 100_000)
            throw Error($"MaxIdentifiersPerProfile must be 1-100000, not {options.MaxIdentifiersPerProfile}.");
        MaxIdentifiersPerProfile = options.MaxIdentifiersPerProfile;
        foreach (var name in options.Rules.Keys)
            if (!types.TryGetId(name, out _))
                throw Error($"Rules:{name}: '{name}' is not an identifier type (declare it under Identity:Types).");
        var global = options.Blocklist ?? [.. DefaultBlocklist];
        var globalPatterns = options.BlocklistPatterns.Select((p, i) => Compile(p, $"BlocklistPatterns:{i}")).ToArray();
        foreach (var name in types.Names)
        {
            types.TryGetId(name, out byte id);
            var (defaultMax, defaultPriority) = Defaults(name);
            options.Rules.TryGetValue(name, out var rule);
            int max = rule?.MaxValues ?? defaultMax;
            int priority = rule?.Priority ?? defaultPriority;
            if (max < 1)
                throw Error($"Rules:{name}:MaxValues must be at least 1, not {max}.");
            if (priority is < 1 or > 100)
                throw Error($"Rules:{name}:Priority must be 1-100 (1 is the highest), not {priority}.");
            maxValues[id] = max;
            priorities[id] = priority;
            blocklists[id] = new HashSet<string>(global.Concat(rule?.Blocklist ?? []), StringComparer.OrdinalIgnoreCase);
            patterns[id] = [.. globalPatterns, .. (rule?.BlocklistPatterns ?? []).Select((p, i) => Compile(p, $"Rules:{name}:BlocklistPatterns:{i}"))];
        }
    }

    /// <summary>
    /// Defaults follow what a person has: one login id and one account, a few emails and phones,
    /// more devices, many cookies. Priorities rank how sure a type is to name one person.
    /// </summary>
    static (int MaxValues, int Priority) Defaults(string type) => type switch
    {
        "user_id" => (1, 1),
        "account" => (1, 2),
        "email" or "email_sha256" => (5, 3),
        "phone" => (5, 4),
        "device" => (25, 5),
        "anonymous_id" => (500, 6),
        _ => (25, 5),
    };

    static Regex Compile(string pattern, string setting)
    {
        try
        {
            // Anchored: a pattern names whole values. Non-backtracking: matching time stays linear
            // in the value, whatever the pattern, so a write cannot be slowed by its identifier.
            return new Regex("^(?:" + pattern + ")$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase | RegexOptions.NonBacktracking);
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"Configuration error: Identity:{setting}: '{pattern}' is not a valid regular expression: {e.Message}");
        }
        catch (NotSupportedException e)
        {
            throw new InvalidOperationException($"Configuration error: Identity:{setting}: '{pattern}' uses a construct without a linear-time match (backreferences, lookarounds): {e.Message}");
        }
    }

    /// <summary>Most values of a type one profile holds.</summary>
    public int MaxValues(byte type) => maxValues[type];

    /// <summary>Priority of a type; 1 is the highest.</summary>
    public int Priority(byte type) => priorities[type];

    /// <summary>True when a normalised value is junk for its type and must not be linked.</summary>
    public bool IsBlocked(byte type, string value)
    {
        if (blocklists[type].Contains(value))
            return true;
        foreach (var p in patterns[type])
            if (p.IsMatch(value))
                return true;
        return false;
    }
}
