namespace Cdp.Server.Identity;

/// <summary>
/// Decides what a write's identifiers do under the <see cref="IdentityRules"/>: which existing
/// profiles become one, which new identifiers are linked, and which are left out as conflicts.
/// Identifiers are taken in priority order (then write order); each either joins the group or, if
/// joining would give the group more values of a type than its limit (or more identifiers than the
/// cap), is left where it is and recorded. So the write lands on the profile of its highest-priority
/// identifier, and a second <c>user_id</c> never merges two people however many emails they share.
/// A pure function of its inputs: the journal keeps its outcome, replay never decides again.
/// </summary>
public sealed class IdentityResolver(IdentityRules rules, IdentifierTypes types)
{
    readonly int[] counts = new int[256];
    readonly List<int> order = [];

    /// <summary>Profiles that become one; empty when the write creates a new profile.</summary>
    public List<ulong> Group { get; } = [];

    /// <summary>Indexes (into the write's identifiers) of new identifiers to link.</summary>
    public List<int> Attach { get; } = [];

    /// <summary>Identifiers left out: index, the profile that holds it (0 when none), and why.</summary>
    public List<(int Index, ulong Owner, string Reason)> Conflicts { get; } = [];

    /// <summary>
    /// Plans the write. <paramref name="identifiers"/> are the write's identifiers with the profile
    /// each resolves to (0 when unknown); <paramref name="countsOf"/> gives, per existing profile,
    /// how many identifiers it holds per type id (index 0: all types together).
    /// </summary>
    public void Resolve(IReadOnlyList<WriteIdentifier> identifiers, Func<ulong, int[]> countsOf) => Resolve(identifiers, [], countsOf);

    /// <summary>
    /// Plans the write as above; <paramref name="matched"/> are profiles fuzzy matching chose to merge
    /// with, taken after every identifier (an identifier is surer evidence than a similar name) and
    /// joined only where the rules allow, like any other profile; one that does not fit is left alone.
    /// </summary>
    public void Resolve(IReadOnlyList<WriteIdentifier> identifiers, IReadOnlyList<ulong> matched, Func<ulong, int[]> countsOf)
    {
        Group.Clear();
        Attach.Clear();
        Conflicts.Clear();
        Array.Clear(counts);
        order.Clear();
        for (int i = 0; i < identifiers.Count; i++)
            order.Add(i);
        // Stable: equal priorities keep the write's order.
        order.Sort((a, b) =>
        {
            int c = rules.Priority(identifiers[a].Type).CompareTo(rules.Priority(identifiers[b].Type));
            return c != 0 ? c : a.CompareTo(b);
        });
        foreach (int i in order)
        {
            var (type, _, owner, _) = identifiers[i];
            if (owner != 0)
            {
                if (Group.Contains(owner))
                    continue;
                var theirs = countsOf(owner);
                if (Breaks(theirs) is { } reason)
                {
                    Conflicts.Add((i, owner, reason));
                    continue;
                }
                for (int t = 0; t < counts.Length; t++)
                    counts[t] += theirs[t];
                Group.Add(owner);
            }
            else
            {
                if (counts[type] + 1 > rules.MaxValues(type))
                    Conflicts.Add((i, 0, $"a profile holds at most {rules.MaxValues(type)} {types.GetName(type)} value(s) (Identity:Rules:{types.GetName(type)}:MaxValues)"));
                else if (counts[0] + 1 > rules.MaxIdentifiersPerProfile)
                    Conflicts.Add((i, 0, $"a profile holds at most {rules.MaxIdentifiersPerProfile} identifiers (Identity:MaxIdentifiersPerProfile)"));
                else
                {
                    counts[type]++;
                    counts[0]++;
                    Attach.Add(i);
                }
            }
        }
        foreach (var profile in matched)
        {
            if (Group.Contains(profile))
                continue;
            var theirs = countsOf(profile);
            if (Breaks(theirs) is not null)
                continue;
            for (int t = 0; t < counts.Length; t++)
                counts[t] += theirs[t];
            Group.Add(profile);
        }
        Group.Sort();
    }

    string? Breaks(int[] theirs)
    {
        for (int t = 1; t < counts.Length; t++)
            if (theirs[t] > 0 && counts[t] + theirs[t] > rules.MaxValues((byte)t))
                return $"merging would give one profile {counts[t] + theirs[t]} {types.GetName((byte)t)} values; at most {rules.MaxValues((byte)t)} are allowed (Identity:Rules:{types.GetName((byte)t)}:MaxValues)";
        if (counts[0] + theirs[0] > rules.MaxIdentifiersPerProfile)
            return $"merging would give one profile more than {rules.MaxIdentifiersPerProfile} identifiers (Identity:MaxIdentifiersPerProfile)";
        return null;
    }
}
