using Cdp.Server.Engine;
using Cdp.Server.Rules;

namespace Cdp.Server.Segments;

/// <summary>What a membership evaluation covers.</summary>
public enum EvaluationScope
{
    /// <summary>Only the segments reading the fields a write changed (and those reading them through <c>in_segment</c>).</summary>
    Changed,
    /// <summary>Every segment (merges, unmerges).</summary>
    All,
    /// <summary>The segments whose truth can change with time alone (a scheduled check).</summary>
    Time,
    /// <summary>One segment (a backfill).</summary>
    One,
}

/// <summary>
/// Evaluates one profile's segment rules and applies what changed: the profile's stored memberships,
/// each segment's members, the next time-based check and the pushed enter/exit changes. One per engine
/// session; the caller holds the profile's stripe, so a profile's evaluations never interleave.
/// </summary>
public sealed class SegmentEvaluator
{
    readonly ProfileEngine engine;
    readonly EngineSession session;
    readonly RuleContext ctx;
    readonly List<(uint Segment, long Since)> entries = [];
    readonly List<int> ranks = [];
    readonly List<(uint Segment, bool Holds)> evaluated = [];
    readonly List<(Segment Segment, bool Entered)> changes = [];
    readonly Func<long, ReadOnlyMemory<byte>> computed;
    readonly Func<int, bool> member;
    readonly List<int> changedKeys = [];

    internal SegmentEvaluator(ProfileEngine engine, EngineSession session)
    {
        this.engine = engine;
        this.session = session;
        ctx = new RuleContext(engine.Segments.Fields, engine.Computed, engine.SharedValues);
        computed = now => session.View.AllComputedAt(now);
        member = IsMember;
    }

    /// <summary>Dependency keys changed by the write being applied; filled by the session before <see cref="Evaluate"/>.</summary>
    internal List<int> ChangedKeys => changedKeys;

    /// <summary>
    /// Evaluates profile <paramref name="master"/> at <paramref name="now"/>. For <see cref="EvaluationScope.Changed"/>
    /// the keys are in <see cref="ChangedKeys"/>; <paramref name="created"/> adds the segments that hold for an
    /// empty profile. Returns false when the profile is not live.
    /// </summary>
    public bool Evaluate(ulong master, EvaluationScope scope, long now, SegmentChangeReason reason, bool created = false, Segment? one = null)
    {
        var catalog = engine.Segments;
        var set = catalog.Current;
        if (set.All.Length == 0)
            return true;
        ranks.Clear();
        switch (scope)
        {
            case EvaluationScope.Changed:
                foreach (var key in changedKeys)
                    foreach (var r in set.Reading(key))
                        ranks.Add(r);
                if (created)
                    ranks.AddRange(set.TrueWhenEmpty);
                break;
            case EvaluationScope.All:
                for (int i = 0; i < set.All.Length; i++)
                    ranks.Add(i);
                break;
            case EvaluationScope.Time:
                ranks.AddRange(set.TimeDependent);
                break;
            case EvaluationScope.One:
                if (one is not null && set.RankOfId.TryGetValue(one.Id, out int rank))
                    ranks.Add(rank);
                break;
        }
        if (ranks.Count == 0 && scope != EvaluationScope.Time)
            return true;
        if (!session.LoadForSegments(master))
            return false;
        long storedNext = session.ReadMemberships(master, entries);
        bool hadRecord = storedNext >= 0;
        if (storedNext < 0)
            storedNext = 0;
        // A time-based check that is due but has not run (a replay evaluates writes without the checks
        // between them; a timer can be late; a backfill can come first at start): the time-dependent
        // rules are evaluated now too, or this evaluation would replace the due moment and lose it.
        if (storedNext > 0 && storedNext <= now && scope is EvaluationScope.Changed or EvaluationScope.One)
        {
            ranks.AddRange(set.TimeDependent);
            scope = EvaluationScope.Time;
        }
        ranks.Sort();
        Dedupe(ranks);
        var view = session.View;
        ctx.Begin(master, session.RecordBuffer, view.Record.Length, now, computed, member);
        evaluated.Clear();
        changes.Clear();
        int held = entries.Count;
        for (int i = 0; i < ranks.Count; i++)
        {
            var segment = set.All[ranks[i]];
            bool holds = segment.Compiled.Root.Holds(ctx);
            bool was = IndexOf(segment.Id) >= 0;
            // At the cap a profile stays out of further segments (and rules reading them through
            // in_segment see it out): the write is already journalled and must not fail here.
            if (holds && !was && held >= MembershipRecord.MaxEntries)
                holds = false;
            held += holds == was ? 0 : holds ? 1 : -1;
            evaluated.Add((segment.Id, holds));
            if (holds == was)
                continue;
            changes.Add((segment, holds));
            // Segments reading this one come later in rank order: insert them to be evaluated too.
            foreach (var d in set.DependentsOf(ranks[i]))
                InsertRank(d, i + 1);
        }

        long next = NextCheck(set, scope, storedNext, now);
        bool dropped = DropDeleted(set);
        if (changes.Count == 0 && next == storedNext && !dropped && (hadRecord || next == 0))
            return true;
        foreach (var (segment, entered) in changes)
        {
            int at = IndexOf(segment.Id);
            if (entered)
                entries.Insert(~at, (segment.Id, now));
            else
                entries.RemoveAt(at);
        }
        session.WriteMemberships(master, next, entries);
        foreach (var (segment, entered) in changes)
        {
            if (entered)
                segment.Members.Add(master);
            else
                segment.Members.Remove(master);
        }
        if (next != 0 && next != storedNext)
            catalog.Scheduler.Schedule(master, next);
        if (engine.SegmentFeed.HasSubscribers && reason != 0)
            foreach (var (segment, entered) in changes)
                engine.SegmentFeed.Publish(new SegmentChange(master, segment.Name, entered, reason, now));
        return true;
    }

    /// <summary>
    /// A profile merged into another, or about to be rebuilt: it leaves every segment and its stored
    /// memberships are removed.
    /// </summary>
    public void RemoveAll(ulong master, long now, SegmentChangeReason reason)
    {
        if (session.ReadMemberships(master, entries) < 0)
            return;
        var set = engine.Segments.Current;
        foreach (var (id, _) in entries)
        {
            if (!set.RankOfId.TryGetValue(id, out int rank))
                continue;
            var segment = set.All[rank];
            if (segment.Members.Remove(master) && engine.SegmentFeed.HasSubscribers)
                engine.SegmentFeed.Publish(new SegmentChange(master, segment.Name, false, reason, now));
        }
        entries.Clear();
        session.WriteMemberships(master, 0, entries);
    }

    /// <summary>
    /// Explains a profile's standing in <paramref name="segment"/> now: every sub-condition with
    /// whether it holds and the values read, whether the profile is a member and since when.
    /// </summary>
    public (bool Member, long? Since, List<RuleExplanation> Lines)? Explain(ulong master, Segment segment, long now)
    {
        if (!session.LoadForSegments(master))
            return null;
        session.ReadMemberships(master, entries);
        evaluated.Clear();
        var view = session.View;
        ctx.Begin(master, session.RecordBuffer, view.Record.Length, now, computed, member);
        var lines = new List<RuleExplanation>();
        segment.Compiled.Root.Explain(ctx, 0, lines);
        int at = IndexOf(segment.Id);
        return (at >= 0, at >= 0 ? entries[at].Since : null, lines);
    }

    /// <summary>Names of the live segments the profile is in, with since when (the caller has loaded nothing).</summary>
    public List<(string Name, long Since)> MembershipsOf(ulong master)
    {
        var result = new List<(string, long)>();
        session.ReadMemberships(master, entries);
        var set = engine.Segments.Current;
        foreach (var (id, since) in entries)
            if (set.RankOfId.TryGetValue(id, out int rank))
                result.Add((set.All[rank].Name, since));
        return result;
    }

    long NextCheck(SegmentSet set, EvaluationScope scope, long storedNext, long now)
    {
        if (set.TimeDependent.Length == 0)
            return 0;
        long next = long.MaxValue;
        if (scope is EvaluationScope.Time or EvaluationScope.All)
        {
            foreach (var r in set.TimeDependent)
                next = Math.Min(next, set.All[r].Compiled.Root.NextChange(ctx));
        }
        else
        {
            // Time-dependent rules this write did not touch keep the moment already stored for them.
            if (storedNext > now)
                next = storedNext;
            foreach (var r in ranks)
                if (set.All[r].Compiled.TimeDependent)
                    next = Math.Min(next, set.All[r].Compiled.Root.NextChange(ctx));
        }
        return next == long.MaxValue ? 0 : next;
    }

    bool DropDeleted(SegmentSet set)
    {
        // Memberships of deleted segments are dropped when the profile is next written.
        int w = 0;
        for (int i = 0; i < entries.Count; i++)
            if (set.RankOfId.ContainsKey(entries[i].Segment))
                entries[w++] = entries[i];
        if (w == entries.Count)
            return false;
        entries.RemoveRange(w, entries.Count - w);
        return true;
    }

    bool IsMember(int segmentId)
    {
        foreach (var (id, holds) in evaluated)
            if (id == (uint)segmentId)
                return holds;
        return IndexOf((uint)segmentId) >= 0;
    }

    int IndexOf(uint id)
    {
        int lo = 0, hi = entries.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            uint m = entries[mid].Segment;
            if (m == id)
                return mid;
            if (m < id)
                lo = mid + 1;
            else
                hi = mid - 1;
        }
        return ~lo;
    }

    void InsertRank(int rank, int from)
    {
        int i = from;
        while (i < ranks.Count && ranks[i] < rank)
            i++;
        if (i < ranks.Count && ranks[i] == rank)
            return;
        ranks.Insert(i, rank);
    }

    static void Dedupe(List<int> sorted)
    {
        int w = 0;
        for (int i = 0; i < sorted.Count; i++)
            if (w == 0 || sorted[i] != sorted[w - 1])
                sorted[w++] = sorted[i];
        sorted.RemoveRange(w, sorted.Count - w);
    }
}
