using Cdp.Server.Rules;

namespace Cdp.Server.Segments;

/// <summary>
/// A segment: its name, rule, compiled predicate, live members and backfill state. The id is given
/// once and never reused, so a membership stored under it can never be mistaken for a later
/// segment's; changing the rule keeps the id (and the members, until the backfill re-evaluates them).
/// </summary>
public sealed class Segment
{
    internal Segment(uint id, string name, string rule, CompiledRule compiled, SegmentMembers members, long createdAt, long updatedAt)
    {
        Id = id;
        Name = name;
        Rule = rule;
        Compiled = compiled;
        Members = members;
        CreatedAt = createdAt;
        UpdatedAt = updatedAt;
    }

    /// <summary>Stable id, stored in each profile's memberships.</summary>
    public uint Id { get; }
    /// <summary>Name.</summary>
    public string Name { get; }
    /// <summary>The rule as given.</summary>
    public string Rule { get; }
    /// <summary>The compiled rule.</summary>
    public CompiledRule Compiled { get; }
    /// <summary>Live members.</summary>
    public SegmentMembers Members { get; }
    /// <summary>When the segment was first defined, Unix ms.</summary>
    public long CreatedAt { get; }
    /// <summary>When its rule last changed, Unix ms.</summary>
    public long UpdatedAt { get; }

    /// <summary>Whether the rule holds for a profile with no data: a new profile is evaluated against such segments.</summary>
    public bool TrueWhenEmpty { get; internal set; }
    /// <summary>Profiles visited by the running backfill.</summary>
    public long BackfillDone;
    /// <summary>Profiles the running backfill visits (the highest master id when it started).</summary>
    public long BackfillTotal;
    /// <summary>True while existing profiles are still being evaluated against a new or changed rule.</summary>
    public volatile bool Backfilling;
    /// <summary>
    /// True once a checkpoint taken after the backfill finished has completed: only then does the
    /// store on disk hold the backfill's results, so a segment not settled is backfilled again at start.
    /// </summary>
    public volatile bool Settled;
    /// <summary>
    /// The catalog's stamp taken when the backfill finished (after its last membership write); 0 while
    /// it runs. A checkpoint that read a stamp at least this large before it started holds the results.
    /// </summary>
    public long BackfillFinishedStamp;
}
