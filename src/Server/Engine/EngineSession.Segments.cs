using Cdp.Server.Journal;
using Cdp.Server.Segments;
using Cdp.Server.Storage;

namespace Cdp.Server.Engine;

// Segment membership: evaluating a profile's rules inside the write that changed it, under the same
// stripes, so membership is never stale and a checkpoint holds it together with the write.
public sealed unsafe partial class EngineSession
{
    SegmentEvaluator? segmentEvaluator;
    readonly byte[] membershipBuffer = GC.AllocateArray<byte>(MembershipRecord.SizeOf(64), pinned: true);
    byte[]? largeMembershipBuffer;

    /// <summary>This session's evaluator.</summary>
    internal SegmentEvaluator Segments => segmentEvaluator ??= new SegmentEvaluator(engine, this);

    /// <summary>Reads a profile's stored memberships into <paramref name="entries"/>; returns its next check time, or -1 when it has none stored.</summary>
    internal long ReadMemberships(ulong master, List<(uint Segment, long Since)> entries)
    {
        entries.Clear();
        Span<byte> key = stackalloc byte[9];
        StoreKeys.WriteMemberships(key, master);
        if (!TryRead(key, membershipBuffer, out var output))
            return -1;
        if (output.IsSpanByte)
            return MembershipRecord.Read(membershipBuffer.AsSpan(0, output.Length), entries);
        using var memory = output.Memory;
        return MembershipRecord.Read(memory.Memory.Span[..output.Length], entries);
    }

    /// <summary>Stores a profile's memberships (deleting the key when there is nothing to keep).</summary>
    internal void WriteMemberships(ulong master, long nextCheck, List<(uint Segment, long Since)> entries)
    {
        Span<byte> key = stackalloc byte[9];
        StoreKeys.WriteMemberships(key, master);
        if (entries.Count == 0 && nextCheck == 0)
        {
            DeleteKey(key);
            return;
        }
        int size = MembershipRecord.SizeOf(entries.Count);
        var buffer = size <= membershipBuffer.Length ? membershipBuffer : (largeMembershipBuffer is { } b && b.Length >= size ? b : largeMembershipBuffer = new byte[size * 2]);
        int length = MembershipRecord.Write(buffer, nextCheck, entries);
        UpsertValue(key, buffer.AsSpan(0, length));
    }

    /// <summary>Loads a live profile into the session's view for evaluation; false when it is absent or merged away.</summary>
    internal bool LoadForSegments(ulong master) => TryReadProfile(master);

    /// <summary>The session's view (the profile last loaded).</summary>
    internal ProfileView View => view;

    /// <summary>The record buffer the view points into.</summary>
    internal byte[] RecordBuffer => recordBuffer;

    /// <summary>Takes the stripe of profile <paramref name="master"/> (alone: callers hold no other stripe).</summary>
    internal int EnterProfileStripe(ulong master)
    {
        int stripe = ProfileStripe(master);
        engine.Locks.EnterOne(stripe);
        return stripe;
    }

    /// <summary>Computed traits (catalog indices) the last built delta fed.</summary>
    readonly List<int> fedComputed = [];

    /// <summary>
    /// Re-evaluates the segments a journalled write can have changed, on the profile it landed on
    /// (under its stripes; at its receive time, so replay decides as the live write did). A merge
    /// changes everything: the absorbed profiles leave their segments and the survivor is evaluated
    /// against all of them.
    /// </summary>
    void ApplySegments(JournalEntry e, ulong master, bool created)
    {
        if (engine.Segments.Current.All.Length == 0)
            return;
        var evaluator = Segments;
        if (e.MergedFrom.Count > 0)
        {
            foreach (var m in e.MergedFrom)
                evaluator.RemoveAll(m, e.ReceivedAt, SegmentChangeReason.Merge);
            evaluator.Evaluate(master, EvaluationScope.All, e.ReceivedAt, SegmentChangeReason.Merge);
            return;
        }
        var keys = evaluator.ChangedKeys;
        keys.Clear();
        foreach (var (name, _) in e.Traits)
            if (engine.Schema.TryGetId(name, out var id))
                keys.Add(id);
        foreach (var i in fedComputed)
            keys.Add(Cdp.Server.Rules.RuleCompiler.ComputedKeyBase + i);
        evaluator.Evaluate(master, EvaluationScope.Changed, e.ReceivedAt, SegmentChangeReason.Write, created);
    }

    /// <summary>Both sides of an unmerge are new profiles as far as rules go: evaluated against every segment.</summary>
    void ApplyUnmergeSegments(JournalEntry e, ulong keptId, ulong splitId)
    {
        if (engine.Segments.Current.All.Length == 0)
            return;
        var evaluator = Segments;
        if (e.MasterId != keptId && e.MasterId != splitId)
            evaluator.RemoveAll(e.MasterId, e.ReceivedAt, SegmentChangeReason.Unmerge);
        evaluator.Evaluate(keptId, EvaluationScope.All, e.ReceivedAt, SegmentChangeReason.Unmerge);
        evaluator.Evaluate(splitId, EvaluationScope.All, e.ReceivedAt, SegmentChangeReason.Unmerge);
    }

    /// <summary>
    /// Why the profile <paramref name="type"/>/<paramref name="value"/> names is in or out of
    /// <paramref name="segment"/> now. Null when there is no such profile.
    /// </summary>
    public SegmentExplanation? ExplainSegment(string type, string value, Segment segment)
    {
        if (GetProfile(type, value, null) is not { } found)
            return null;
        ulong master = found.MasterId;
        long now = engine.NowUnixMs();
        if (Segments.Explain(master, segment, now) is not { } result)
            return null;
        return new SegmentExplanation(master, segment.Name, result.Member, result.Since, result.Lines);
    }

    /// <summary>The segments profile <paramref name="master"/> is in, with since when.</summary>
    public List<(string Name, long Since)> SegmentsOf(ulong master) => Segments.MembershipsOf(master);
}

/// <summary>A profile's standing in a segment: member or not, since when, and every condition's truth.</summary>
public sealed record SegmentExplanation(ulong ProfileId, string Segment, bool Member, long? Since, List<Cdp.Server.Rules.RuleExplanation> Conditions);
