using System.Globalization;

namespace Cdp.Server.Matching;

/// <summary>
/// Fuzzy person matching, bound from <c>Cdp:Matching</c>. A write's traits are read into a
/// <see cref="MatchRecord"/>, compared with the profiles that share a blocking key, and scored as the
/// sum of Fellegi-Sunter log-weights of its attributes (<see cref="MatchModel"/>).
/// </summary>
public sealed class MatchingOptions
{
    /// <summary>Whether writes are matched at all.</summary>
    public bool Enabled { get; set; }

    /// <summary>Whether a write is merged into the profiles the decision rule picks, or only listed as candidates.</summary>
    public bool AutoMerge { get; set; }

    /// <summary>Lowest total weight at which a write is merged into a profile.</summary>
    public double AutoMergeScore { get; set; } = 30;

    /// <summary>Lowest total weight at which a profile is listed as a candidate.</summary>
    public double CandidateScore { get; set; } = 15;

    /// <summary>Most candidates returned by one search.</summary>
    public int MaxCandidates { get; set; } = 10;

    /// <summary>
    /// <c>all</c>: merge with every candidate at or above <see cref="AutoMergeScore"/> (a write that
    /// matches two profiles proves they are one person); <c>best</c>: only with the top one.
    /// </summary>
    public string MergeWith { get; set; } = "all";

    /// <summary>Distinct spellings kept per profile; a profile scores as its best variant.</summary>
    public int MaxVariantsPerProfile { get; set; } = 16;

    /// <summary>
    /// Profiles in one block beyond which the block stops being searched: a key shared by that many
    /// profiles (a common surname born in a common year) no longer narrows the search.
    /// </summary>
    public int MaxBlockSize { get; set; } = 1000;

    /// <summary>Compared attributes by name, in comparison order.</summary>
    public Dictionary<string, MatchAttributeOptions> Attributes { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Blocking keys: a write is compared only with profiles that share at least one. Each key is
    /// <c>part+part...</c>, a part being <c>attribute</c> or <c>attribute.transform</c> with transform
    /// <c>soundex</c>, <c>initial</c> or <c>year</c> (<see cref="BlockingRule"/>).
    /// </summary>
    public List<string> Blocking { get; set; } = [];

    /// <summary>Checks every value and throws naming the setting and the rule it breaks.</summary>
    public void Validate()
    {
        static void Check(bool ok, string message)
        {
            if (!ok)
                throw new InvalidOperationException("Configuration error: Matching:" + message);
        }
        Check(double.IsFinite(AutoMergeScore), $"AutoMergeScore must be a finite number, not {AutoMergeScore}.");
        Check(double.IsFinite(CandidateScore), $"CandidateScore must be a finite number, not {CandidateScore}.");
        Check(AutoMergeScore >= CandidateScore,
            $"AutoMergeScore ({AutoMergeScore}) must be at least CandidateScore ({CandidateScore}); a merged profile must also have been a candidate.");
        Check(MaxCandidates is >= 1 and <= 1000, $"MaxCandidates must be 1-1000, not {MaxCandidates}.");
        Check(MergeWith is "all" or "best", $"MergeWith must be 'all' or 'best', not '{MergeWith}'.");
        Check(MaxVariantsPerProfile is >= 1 and <= 256, $"MaxVariantsPerProfile must be 1-256, not {MaxVariantsPerProfile}.");
        Check(MaxBlockSize is >= 2 and <= 1_000_000, $"MaxBlockSize must be 2-1000000, not {MaxBlockSize}.");
        if (Enabled)
        {
            Check(Attributes.Count > 0, "Attributes must configure at least one attribute when Enabled is true.");
            Check(Blocking.Count > 0, "Blocking must list at least one blocking key when Enabled is true (e.g. \"lastName.soundex+birthDate.year\").");
        }

        var kinds = new Dictionary<string, AttributeKind>(StringComparer.Ordinal);
        foreach (var (name, a) in Attributes)
        {
            string at = $"Attributes:{name}:";
            Check(!string.IsNullOrWhiteSpace(name), "Attributes must not contain an attribute with an empty name.");
            Check(a is not null, $"Attributes:{name} has no settings.");
            Check(a!.Trait is null || !string.IsNullOrWhiteSpace(a.Trait), at + "Trait must not be empty.");
            Check(a.Kind is not null, at + "Kind is required (name, text, date, postcode, phone, number or id).");
            Check(MatchAttribute.TryParseKind(a.Kind!, out var kind),
                at + $"Kind '{a.Kind}' is not one of name, text, date, postcode, phone, number, id.");
            kinds[name] = kind;
            var w = MatchAttribute.DefaultWeights(kind);
            double agree = a.Agree ?? w.Agree, partial = a.Partial ?? w.Partial, disagree = a.Disagree ?? w.Disagree, from = a.PartialFrom ?? w.PartialFrom;
            Check(double.IsFinite(agree) && agree > 0, at + $"Agree must be a positive number, not {Format(agree)}.");
            Check(double.IsFinite(disagree) && disagree <= 0, at + $"Disagree must be zero or negative, not {Format(disagree)}.");
            Check(double.IsFinite(partial) && partial >= disagree && partial <= agree,
                at + $"Partial ({Format(partial)}) must lie between Disagree ({Format(disagree)}) and Agree ({Format(agree)}).");
            Check(double.IsFinite(from) && from > 0 && from <= 1, at + $"PartialFrom must be in (0, 1], not {Format(from)}.");
        }

        var paired = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, a) in Attributes)
        {
            if (a.SwapWith is null)
                continue;
            string at = $"Attributes:{name}:SwapWith";
            Check(a.SwapWith != name, at + " must name another attribute, not the attribute itself.");
            Check(kinds.TryGetValue(a.SwapWith, out var other), at + $" names '{a.SwapWith}', which is not a configured attribute.");
            Check(other == kinds[name], at + $" names '{a.SwapWith}' of kind {other}, but '{name}' is of kind {kinds[name]}; only values of one kind can be swapped.");
            bool mutual = Attributes[a.SwapWith].SwapWith == name;
            Check(mutual || Attributes[a.SwapWith].SwapWith is null,
                at + $" names '{a.SwapWith}', which is already swapped with '{Attributes[a.SwapWith].SwapWith}'.");
            if (mutual && string.CompareOrdinal(name, a.SwapWith) > 0)
                continue;
            Check(paired.Add(name) && paired.Add(a.SwapWith), at + $": '{name}' or '{a.SwapWith}' is already in another swap pair.");
        }

        var names = Attributes.Keys.ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Blocking.Count; i++)
        {
            Check(seen.Add(Blocking[i] ?? ""), $"Blocking:{i} '{Blocking[i]}' is listed twice.");
            try
            {
                BlockingRule.Parse(Blocking[i], names);
            }
            catch (FormatException e)
            {
                Check(false, $"Blocking:{i} {e.Message}");
            }
        }
    }

    static string Format(double d) => d.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The settings measured on the Febrl person data (docs/identity.md, "Fuzzy matching"), with the
    /// Febrl columns mapped to traits: given_name firstName, surname lastName, street_number
    /// streetNumber, address_1 address1, address_2 address2, suburb city, postcode postcode, state
    /// state, date_of_birth birthDate, soc_sec_id ssn.
    /// </summary>
    public static MatchingOptions Febrl() => new()
    {
        Enabled = true,
        AutoMerge = true,
        AutoMergeScore = 30,
        CandidateScore = 15,
        MaxCandidates = 10,
        Attributes = new(StringComparer.Ordinal)
        {
            ["firstName"] = new() { Kind = "name", Agree = 7, Partial = 2, Disagree = -3, SwapWith = "lastName" },
            ["lastName"] = new() { Kind = "name", Agree = 8, Partial = 2, Disagree = -3 },
            ["streetNumber"] = new() { Kind = "number", Agree = 5, Partial = 1, Disagree = -2 },
            ["address1"] = new() { Kind = "text", Agree = 9, Partial = 2, Disagree = -2, SwapWith = "address2" },
            ["address2"] = new() { Kind = "text", Agree = 7, Partial = 2, Disagree = -1 },
            ["city"] = new() { Kind = "text", Agree = 7, Partial = 2, Disagree = -2 },
            ["postcode"] = new() { Kind = "postcode", Agree = 6, Partial = 1, Disagree = -2 },
            ["state"] = new() { Kind = "text", Agree = 1.5, Partial = 0, Disagree = -2, PartialFrom = 1 },
            ["birthDate"] = new() { Kind = "date", Agree = 10, Partial = 3, Disagree = -4 },
            ["ssn"] = new() { Kind = "id", Agree = 14, Partial = 5, Disagree = -4 },
        },
        Blocking =
        [
            "lastName.soundex+birthDate.year",
            "firstName.soundex+birthDate.year",
            "postcode+firstName.initial",
            "firstName.soundex+postcode",
            "lastName.soundex+city",
            "lastName.soundex+postcode",
            "firstName.soundex+lastName.soundex",
            "address1.soundex+streetNumber",
            "birthDate",
            "ssn",
        ],
    };
}
