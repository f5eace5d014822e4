using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Cdp.Protocol;
using Cdp.Server.Computed;
using Cdp.Server.History;
using Cdp.Server.Identity;
using Cdp.Server.Journal;
using Cdp.Server.Matching;
using Cdp.Server.Profiles;
using Cdp.Server.Schema;
using Cdp.Server.Storage;
using FASTER.core;
using Status = Cdp.Protocol.Status;

namespace Cdp.Server.Engine;

/// <summary>
/// One caller's handle on the engine: owns a FASTER session and reusable buffers, and is used by one
/// thread at a time (a connection's loop, or one HTTP request while rented). Every write and read
/// decision is made here, so the binary protocol and HTTP behave the same.
/// </summary>
public sealed unsafe partial class EngineSession : IDisposable
{
    readonly ProfileEngine engine;
    ClientSession<SpanByte, SpanByte, SpanByte, SpanByteAndMemory, long, StoreFunctions> session;
    readonly ProfileRecordBuilder builder;
    // ResolveAlias as a delegate made once: shared-value counting maps counted profiles through it.
    readonly Func<ulong, ulong> currentMaster;
    readonly JournalEntry entry = new();
    readonly ArrayBufferWriter<byte> journalBuffer = new(1024);
    readonly List<WriteIdentifier> identifiers = [];
    readonly IdentityResolver resolver;
    readonly List<(ushort Id, TraitValue Value)> traitIds = [];
    readonly List<int> stripes = [];
    readonly byte[] keyBuffer = GC.AllocateArray<byte>(StoreKeys.MaxKeyLength, pinned: true);
    readonly byte[] valueBuffer = GC.AllocateArray<byte>(16, pinned: true);
    readonly byte[] inputBuffer = GC.AllocateArray<byte>(4096, pinned: true);
    byte[] recordBuffer;
    readonly ProfileView view;

    internal EngineSession(ProfileEngine engine)
    {
        this.engine = engine;
        session = engine.Register(this);
        recordBuffer = GC.AllocateArray<byte>(engine.Options.Store.MaxProfileBytes * 2, pinned: true);
        view = new ProfileView(engine.Schema, engine.IdentifierTypes, engine.Computed, engine.SharedValues, engine.Time);
        builder = new ProfileRecordBuilder(engine.SharedValues);
        currentMaster = ResolveAlias;
        resolver = new IdentityResolver(engine.IdentityRules, engine.IdentifierTypes);
    }

    /// <summary>
    /// Applies an Identify or Track. Validates everything first (nothing changes on a bad request),
    /// resolves the identifiers under their stripe locks, applies the change to the store, then
    /// journals it. The caller acknowledges only after the journal commits
    /// <see cref="WriteResult.JournalAddress"/>.
    /// </summary>
    public WriteResult Write(WriteCommand command)
    {
        engine.EnsureWritable();
        long receivedAt = engine.NowUnixMs();
        long eventTime = command.Timestamp ?? receivedAt;
        var rejected = Prepare(command);
        // Fuzzy matching reads the candidate index and adds to it: writes that carry matching
        // attributes take one shared stripe, so two writes of the same new person cannot both miss
        // each other and create two profiles.
        MatchRecord? match = null;
        if (engine.Candidates is not null && command.Traits.Count > 0)
        {
            match = MatchInput.FromWrite(engine.Matching!, command.Traits);
            if (match.IsEmpty)
                match = null;
        }

        stripes.Clear();
        if (match is not null)
            stripes.Add(engine.Locks.StripeOf(MatchGateKey));
        foreach (var id in identifiers)
            stripes.Add(engine.Locks.StripeOf(IdentityKey(id.Type, id.Value)));
        if (command.MessageId is { } messageId)
            stripes.Add(engine.Locks.StripeOf(DedupeKey(messageId)));
        SortDistinct(stripes);

        // A new profile's id is kept across retries: its stripe is held from before the profile exists
        // until its segments are evaluated, so a backfill or time check never sees it half made.
        ulong reservedId = 0;
        Span<byte> headReport = stackalloc byte[ProfileInput.HeadReportSize];
        while (true)
        {
            engine.Locks.Enter(stripes);
            heldExtra.Clear();
            busy.Clear();
            try
            {
                // A messageId of an erased person is a new write: the erasure removes their dedupe keys,
                // but one whose history could no longer be read (a replay after the keys went) may stay.
                if (command.MessageId is { } mid && TryReadMasterId(DedupeKey(mid), out var previous)
                    && ResolveAlias(previous) is var original && TryReadProfile(original))
                    return new WriteResult(original, Created: false, Duplicate: true, engine.Journal.TailAddress - 1, rejected);

                owners.Clear();
                bool anyUnknown = false;
                for (int i = 0; i < identifiers.Count; i++)
                {
                    var id = identifiers[i];
                    bool known = TryReadMasterId(IdentityKey(id.Type, id.Value), out var found);
                    identifiers[i] = id with { Owner = known ? found : 0 };
                    anyUnknown |= !known;
                    if (known && !owners.Contains(found))
                        owners.Add(found);
                }
                owners.Sort();
                matched.Clear();
                if (match is not null)
                {
                    var model = engine.Matching!;
                    var found = engine.Candidates!.Find(match, owners.Count == 1 ? owners[0] : 0, model.MaxCandidates);
                    foreach (var id in MergeDecision.ProfilesToMerge(found, model))
                        if (!owners.Contains(id) && !matched.Contains(id))
                            matched.Add(id);
                }

                // Every profile the write touches is held: its stripe orders writes to it, which the
                // journal replay relies on. Stripes outside the sorted set are only tried, never
                // waited for; a busy one means: release everything and retake all in order.
                foreach (var m in owners)
                    Hold(ProfileStripe(m));
                foreach (var m in matched)
                    Hold(ProfileStripe(m));
                if (busy.Count > 0)
                    continue;

                // The common write names one known profile and nothing new: no rule can object.
                // Otherwise the rules decide, on what each profile holds.
                masters.Clear();
                resolver.Conflicts.Clear();
                ownerRecords.Clear();
                if (!anyUnknown && owners.Count == 1 && matched.Count == 0)
                    masters.Add(owners[0]);
                else
                {
                    foreach (var m in owners)
                    {
                        if (!TryReadProfile(m))
                            throw new EngineException(Status.InternalError, ErrorCode.Internal, $"profile {m}, named by an identifier, is missing.");
                        ownerRecords[m] = view.Record.ToArray();
                    }
                    // The index changes only under these stripes, so a matched profile is live; one
                    // that is not (never expected) is simply not merged.
                    matched.RemoveAll(m => !TryReadProfile(m));
                    foreach (var m in matched)
                        if (TryReadProfile(m))
                            ownerRecords[m] = view.Record.ToArray();
                    countsUsed = 0;
                    resolver.Resolve(identifiers, matched, countsOf ??= CountsOf);
                    masters.AddRange(resolver.Group);
                }

                // Identifiers of two profiles: the oldest survives and takes the others in, and their
                // identifiers are pointed at it, so their stripes are needed too.
                mergedRecords.Clear();
                for (int j = 1; j < masters.Count; j++)
                {
                    var record = ownerRecords[masters[j]];
                    mergedRecords.Add(record);
                    var r = new ProfileRecordReader(record, engine.SharedValues);
                    while (r.NextIdentifier(out var t, out var v))
                        Hold(engine.Locks.StripeOf(IdentityKey(t, v)));
                }
                if (busy.Count > 0)
                    continue;

                ulong master = masters.Count > 0 ? masters[0] : 0;
                bool created = master == 0;
                if (created)
                {
                    if (reservedId == 0)
                        reservedId = engine.NextMasterId();
                    master = reservedId;
                    Hold(ProfileStripe(master));
                    if (busy.Count > 0)
                        continue;
                }
                ulong seq = engine.NextSeq();

                // The journal entry is built and checked first: once the store has the change,
                // the append must not fail for anything the request could have caused.
                bool linksAfterApply = EncodeJournalEntry(command, master, seq, created, receivedAt, eventTime);
                int entryBytes = journalBuffer.WrittenCount + (linksAfterApply ? JournalEntry.TailBound(1) : 0) + SealedEntry.Overhead;
                if (entryBytes > engine.Journal.MaxEntryBytes)
                    throw EngineException.BadRequest(ErrorCode.TooLong,
                        $"the write takes {entryBytes} bytes in the journal; at most {engine.Journal.MaxEntryBytes} fit (Journal:PageBytes).", "body");

                // Built from the journal entry, exactly as replay will build it: replay equals live
                // (up to encoding: a value shared since this write replays as its id, which reads the same).
                var delta = BuildDelta(entry);
                if (mergedRecords.Count > 0)
                    delta = WithMergedProfiles(mergedRecords, delta, seq);
                ApplyDelta(master, delta, replay: false, linksAfterApply ? headReport : default);
                if (linksAfterApply)
                    FinishJournalEntry(master, headReport);
                if (mergedRecords.Count > 0)
                    RetireMerged(master, entry.MergedFrom, mergedRecords);
                foreach (var id in identifiers)
                    if (id.Owner == 0 && !IsConflict(id))
                        UpsertMasterId(IdentityKey(id.Type, id.Value), master);
                if (command.MessageId is { } messageKey)
                    UpsertMasterId(DedupeKey(messageKey), master);
                if (entry.Conflicts.Count > 0)
                    RecordConflicts(master, entry);

                long address = AppendJournal();
                // After the append, under the same stripes: the next write to this profile links
                // back to this entry. A checkpoint waits for every stripe before it reads the journal
                // tail (ProfileEngine.CheckpointAsync), so a head it misses belongs to a replayed entry.
                SetHistoryHead(master, new HistoryLink(address, HistorySide.Whole));
                foreach (var m in entry.MergedFrom)
                    DeleteHistoryHead(m);
                if (engine.Candidates is { } index)
                {
                    foreach (var m in entry.MergedFrom)
                        index.MergeInto(master, m);
                    if (match is not null)
                        index.Add(master, match);
                }
                ApplySegments(entry, master, created);
                ObserveSharedValues(entry, master);
                return new WriteResult(master, created, Duplicate: false, address, WithConflicts(rejected, command));
            }
            finally
            {
                foreach (var held in heldExtra)
                    engine.Locks.Exit(held);
                engine.Locks.Exit(stripes);
                if (busy.Count > 0)
                {
                    stripes.AddRange(busy);
                    SortDistinct(stripes);
                }
            }
        }
    }

    /// <summary>
    /// Splits <paramref name="split"/> (and what came with them) off the profile that
    /// <paramref name="type"/>/<paramref name="value"/> names, rebuilding both sides from the
    /// profile's history in the journal as if the link between them had never been made (the rule:
    /// <see cref="UnmergePartition"/>). Old master ids keep resolving, each to the side its profile
    /// was created on. Journalled like a write; the caller waits for <see cref="UnmergeResult.JournalAddress"/>.
    /// </summary>
    public UnmergeResult Unmerge(string type, string value, IReadOnlyList<(string Type, string Value, string Field)> split)
    {
        engine.EnsureWritable();
        if (!engine.Options.Journal.KeepHistory)
            throw new EngineException(Status.Conflict, ErrorCode.HistoryUnavailable, "unmerge rebuilds profiles from their history, which this server does not keep (Journal:KeepHistory is false).");
        if (type == IdentifierTypes.MasterId)
            throw EngineException.BadRequest(ErrorCode.UnknownIdentifierType, "address the profile by one of the identifiers that stays with it, not by its id.", "type");
        byte anchorType = engine.IdentifierTypes.GetId(type, "type");
        var anchor = (anchorType, engine.Normalizer.Normalize(anchorType, value, "value"));
        if (split.Count == 0)
            throw EngineException.BadRequest(ErrorCode.Missing, "name the identifiers to split off, e.g. {\"identifiers\":{\"email\":\"b@x.com\"}}.", "identifiers");
        var splitIds = new List<(byte Type, string Value)>();
        foreach (var (t, v, field) in split)
        {
            byte id = engine.IdentifierTypes.GetId(t, field);
            var normalized = (id, engine.Normalizer.Normalize(id, v, field));
            if (normalized == anchor)
                throw EngineException.BadRequest(ErrorCode.Malformed, $"{t} '{v}' is the identifier the unmerge is addressed by; it stays with the profile, so it cannot be split off.", field);
            if (!splitIds.Contains(normalized))
                splitIds.Add(normalized);
        }
        long receivedAt = engine.NowUnixMs();
        engine.EnterUnmerge();
        try
        {
            return Unmerge(anchor, splitIds, receivedAt, type, value);
        }
        finally
        {
            engine.ExitUnmerge();
        }
    }

    UnmergeResult Unmerge((byte, string) anchor, List<(byte Type, string Value)> splitIds, long receivedAt, string type, string value)
    {
        while (true)
        {
            if (!TryReadMasterId(IdentityKey(anchor.Item1, anchor.Item2), out ulong master) || !TryReadProfile(master))
                throw new EngineException(Status.NotFound, ErrorCode.Missing, $"no profile has {type} '{value}'.");
            var record = view.Record.ToArray();
            var held = new HashSet<(byte, string)>();
            var reader = new ProfileRecordReader(record, engine.SharedValues);
            stripes.Clear();
            while (reader.NextIdentifier(out var t, out var v))
            {
                var key = IdentityKey(t, v);
                held.Add((t, System.Text.Encoding.UTF8.GetString(key[2..])));
                stripes.Add(engine.Locks.StripeOf(key));
            }
            stripes.Add(ProfileStripe(master));
            SortDistinct(stripes);
            foreach (var (t, v) in splitIds)
                if (!held.Contains((t, v)))
                    throw EngineException.BadRequest(ErrorCode.InvalidIdentifier, $"{engine.IdentifierTypes.GetName(t)} '{v}' is not an identifier of profile {master}.", "identifiers." + engine.IdentifierTypes.GetName(t));
            engine.Locks.Enter(stripes);
            try
            {
                // Re-checked under the stripes: a write may have changed the profile meanwhile.
                if (!TryReadMasterId(IdentityKey(anchor.Item1, anchor.Item2), out ulong again) || again != master
                    || !TryReadProfile(master) || !view.Record.SequenceEqual(record))
                    continue;
                var head = ReadHistoryHead(master)
                    ?? throw new EngineException(Status.Conflict, ErrorCode.HistoryUnavailable, $"profile {master} has no history in the journal (it was written before history was kept).");
                // Entries are read back from the journal, which serves committed entries only.
                engine.Journal.CommitNow();
                ulong seq = engine.NextSeq();
                entry.Reset();
                entry.Kind = WriteKind.Unmerge;
                entry.Seq = seq;
                entry.MasterId = master;
                entry.ReceivedAt = receivedAt;
                entry.EventTime = receivedAt;
                entry.Identifiers.AddRange(splitIds);
                entry.Previous.Add(head);
                var plan = PlanUnmerge(entry, anchor, held);
                entry.Unmerge = new UnmergeSplit(anchor.Item1, anchor.Item2, plan.KeptId, plan.SplitId);
                journalBuffer.ResetWrittenCount();
                entry.Write(journalBuffer);
                ApplyUnmerge(entry, plan);
                long address = AppendJournal();
                SetUnmergeHeads(master, address, plan);
                ApplyUnmergeSegments(entry, plan.KeptId, plan.SplitId);
                if (engine.Candidates is { } index)
                {
                    // Each side is matched again on the spellings its own writes carried.
                    index.Remove(master);
                    foreach (var (items, id) in new[] { (plan.Kept, plan.KeptId), (plan.Split, plan.SplitId) })
                    {
                        index.Remove(id);
                        foreach (var item in items)
                            if (MatchInput.FromWrite(engine.Matching!, item.Entry.Traits) is { IsEmpty: false } spelling)
                                index.Add(id, spelling);
                    }
                }
                return new UnmergeResult(plan.KeptId, plan.SplitId, address);
            }
            finally
            {
                engine.Locks.Exit(stripes);
            }
        }
    }

    /// <summary>
    /// Fuzzy candidates for the profile <paramref name="type"/>/<paramref name="value"/> names, scored
    /// on its current traits: best first, with the evidence per attribute. Null when there is no such
    /// profile; throws when matching is off.
    /// </summary>
    public (ulong ProfileId, IReadOnlyList<MatchCandidate> Candidates)? FindMatches(string type, string value, int max)
    {
        if (engine.Candidates is not { } index)
            throw new EngineException(Status.Conflict, ErrorCode.Unavailable, "fuzzy matching is off on this server (Cdp:Matching:Enabled).");
        if (max is < 1 or > 100)
            throw EngineException.BadRequest(ErrorCode.OutOfRange, $"limit must be 1-100, not {max}.", "limit");
        if (GetProfile(type, value, null) is not { } view)
            return null;
        ulong id = view.MasterId;
        var record = MatchInput.FromRecord(engine.Matching!, view.Record, engine.Schema, engine.SharedValues);
        if (record.IsEmpty)
            return (id, []);
        return (id, index.Find(record, id, max));
    }

    /// <summary>Both sides of an unmerge: their history, identifiers and master ids.</summary>
    sealed record UnmergePlan(List<HistoryItem> Kept, List<HistoryItem> Split, HashSet<(byte, string)> KeptIdentifiers,
        HashSet<(byte, string)> SplitIdentifiers, ulong KeptId, ulong SplitId, List<ulong> KeptIds, List<ulong> SplitIds);

    /// <summary>
    /// Reads the history behind an unmerge entry and splits it. Master ids go with the side of the
    /// write that created them; each side's oldest survives. A side that created none gets a new id
    /// (live), or the one the entry recorded (replay).
    /// </summary>
    UnmergePlan PlanUnmerge(JournalEntry e, (byte, string) anchor, HashSet<(byte, string)>? expectedIdentifiers)
    {
        List<HistoryItem> items;
        try
        {
            items = new ProfileHistory(engine.Journal, engine.Keys).Collect(e.Previous);
        }
        catch (HistoryUnavailableException x)
        {
            throw new EngineException(Status.Conflict, ErrorCode.HistoryUnavailable, "the profile cannot be rebuilt: " + x.Message);
        }
        if (expectedIdentifiers is not null)
        {
            var seen = items.SelectMany(i => i.Identifiers).ToHashSet();
            foreach (var id in expectedIdentifiers)
                if (!seen.Contains(id))
                    throw new EngineException(Status.Conflict, ErrorCode.HistoryUnavailable,
                        $"the profile's history does not hold where {engine.IdentifierTypes.GetName(id.Item1)} '{id.Item2}' came from (it was linked before history was kept); the profile cannot be rebuilt.");
        }
        var (kept, split, keptIds, splitIds) = UnmergePartition.Split(items, e.Identifiers, anchor);
        var keptMasters = kept.Where(i => i.Entry.Created).Select(i => i.Entry.MasterId).Order().ToList();
        var splitMasters = split.Where(i => i.Entry.Created).Select(i => i.Entry.MasterId).Order().ToList();
        ulong keptId = e.Unmerge?.KeptId ?? (keptMasters.Count > 0 ? keptMasters[0] : engine.NextMasterId());
        ulong splitId = e.Unmerge?.SplitId ?? (splitMasters.Count > 0 ? splitMasters[0] : engine.NextMasterId());
        return new UnmergePlan(kept, split, keptIds, splitIds, keptId, splitId, keptMasters, splitMasters);
    }

    /// <summary>Writes both rebuilt profiles, points identifiers, old ids and message ids at their side.</summary>
    void ApplyUnmerge(JournalEntry e, UnmergePlan plan)
    {
        Span<byte> key = stackalloc byte[9];
        Span<byte> alias = stackalloc byte[ProfileRecord.AliasSize];
        foreach (var (items, identifiers, id, ids) in new[] { (plan.Kept, plan.KeptIdentifiers, plan.KeptId, plan.KeptIds), (plan.Split, plan.SplitIdentifiers, plan.SplitId, plan.SplitIds) })
        {
            var record = Rebuild(items, identifiers, id, e);
            UpsertValue(key[..WriteProfileKey(key, id)], record);
            ProfileRecord.WriteAlias(alias, id);
            foreach (var old in ids)
                if (old != id)
                {
                    UpsertValue(key[..WriteProfileKey(key, old)], alias);
                    DeleteKey(AbsorbedKey(old));
                }
            WriteAbsorbed(id, [.. ids.Where(old => old != id)]);
            foreach (var (t, v) in identifiers)
                UpsertMasterId(IdentityKey(t, v), id);
            foreach (var item in items)
                if (item.Entry.MessageId is { } mid)
                    UpsertMasterId(DedupeKey(mid), id);
        }
        // The profile that was split keeps resolving: to the kept side when it is not one of the two.
        if (e.MasterId != plan.KeptId && e.MasterId != plan.SplitId && !plan.KeptIds.Contains(e.MasterId) && !plan.SplitIds.Contains(e.MasterId))
        {
            ProfileRecord.WriteAlias(alias, plan.KeptId);
            UpsertValue(key[..WriteProfileKey(key, e.MasterId)], alias);
            DeleteKey(AbsorbedKey(e.MasterId));
        }
    }

    /// <summary>
    /// A profile as its writes build it: each write's delta (with only this side's identifiers),
    /// merged in sequence order, exactly as the live path merges them; then every identifier of the
    /// side, which a write of the other side may have been the only one to carry.
    /// </summary>
    byte[] Rebuild(List<HistoryItem> items, HashSet<(byte, string)> identifiers, ulong id, JournalEntry unmerge)
    {
        int max = engine.Options.Store.MaxProfileBytes;
        var buffer = new byte[max + 64];
        byte[]? record = null;
        long lastReceived = unmerge.ReceivedAt;
        var copy = new JournalEntry();
        foreach (var item in items)
        {
            Clone(item.Entry, copy);
            copy.MasterId = id;
            copy.Identifiers.Clear();
            copy.Identifiers.AddRange(item.Identifiers);
            var delta = BuildDelta(copy);
            record = record is null ? delta.ToArray() : MergeOrRefuse(record, delta, buffer, max);
            lastReceived = item.Entry.ReceivedAt;
        }
        builder.Reset();
        foreach (var (t, v) in identifiers.OrderBy(x => x.Item1).ThenBy(x => x.Item2, StringComparer.Ordinal))
            builder.AddIdentifier(t, v);
        var ids = builder.Build(unmerge.Seq, lastReceived, lastReceived, -1);
        record = record is null ? ids.ToArray() : MergeOrRefuse(record, ids, buffer, max);
        ProfileRecord.SetLastSeq(record, unmerge.Seq);
        return record;
    }

    byte[] MergeOrRefuse(byte[] record, ReadOnlySpan<byte> delta, byte[] buffer, int max)
    {
        int n = ProfileRecord.Merge(record, delta, buffer, engine.Computed, engine.SharedValues, engine.Survivorship);
        if (n < 0 || n > max)
            throw new EngineException(Status.ProfileTooLarge, ErrorCode.ProfileTooLarge, $"a rebuilt profile would pass the profile limit of {max} bytes; nothing was changed.");
        return buffer.AsSpan(0, n).ToArray();
    }

    static void Clone(JournalEntry from, JournalEntry to)
    {
        to.Reset();
        to.Kind = from.Kind;
        to.Seq = from.Seq;
        to.MasterId = from.MasterId;
        to.Created = from.Created;
        to.ReceivedAt = from.ReceivedAt;
        to.EventTime = from.EventTime;
        to.MessageId = from.MessageId;
        to.Source = from.Source;
        to.Traits.AddRange(from.Traits);
        to.Event = from.Event;
        to.Properties.AddRange(from.Properties);
    }

    void SetUnmergeHeads(ulong master, long address, UnmergePlan plan)
    {
        SetHistoryHead(plan.KeptId, new HistoryLink(address, HistorySide.Kept));
        SetHistoryHead(plan.SplitId, new HistoryLink(address, HistorySide.Split));
        if (master != plan.KeptId && master != plan.SplitId)
            DeleteHistoryHead(master);
    }

    readonly List<ulong> owners = [];
    readonly List<ulong> matched = [];

    /// <summary>The key whose stripe every write with fuzzy-matching attributes takes.</summary>
    static ReadOnlySpan<byte> MatchGateKey => "m:match-gate"u8;
    readonly Dictionary<ulong, byte[]> ownerRecords = [];
    readonly List<int[]> countsPool = [];
    Func<ulong, int[]>? countsOf;
    int countsUsed;

    /// <summary>How many identifiers a profile read for this write holds, per type id (index 0: all).</summary>
    int[] CountsOf(ulong profile)
    {
        if (countsUsed == countsPool.Count)
            countsPool.Add(new int[256]);
        var counts = countsPool[countsUsed++];
        Array.Clear(counts);
        var r = new ProfileRecordReader(ownerRecords[profile], engine.SharedValues);
        while (r.NextIdentifier(out var t, out _))
        {
            counts[t]++;
            counts[0]++;
        }
        return counts;
    }

    bool IsConflict(in WriteIdentifier id)
    {
        foreach (var (index, _, _) in resolver.Conflicts)
            if (identifiers[index].Type == id.Type && identifiers[index].Value == id.Value)
                return true;
        return false;
    }

    /// <summary>The write's rejections plus the identifiers the rules left unlinked, as the response reports them.</summary>
    List<TraitRejection>? WithConflicts(List<TraitRejection>? rejected, WriteCommand command)
    {
        foreach (var (index, owner, reason) in resolver.Conflicts)
        {
            var id = identifiers[index];
            string where = owner == 0 ? "" : $" it stays with profile {owner};";
            (rejected ??= []).Add(new TraitRejection(id.Field, ErrorCode.IdentityConflict,
                $"{engine.IdentifierTypes.GetName(id.Type)} '{id.Value}' was not linked:{where} {reason}."));
        }
        return rejected;
    }

    readonly List<ulong> masters = [];
    readonly List<int> heldExtra = [];
    readonly List<int> busy = [];
    readonly List<byte[]> mergedRecords = [];

    /// <summary>Takes <paramref name="stripe"/> if this write does not hold it yet, without waiting; a busy one is noted in <c>busy</c>.</summary>
    void Hold(int stripe)
    {
        if (stripes.BinarySearch(stripe) >= 0 || heldExtra.Contains(stripe) || busy.Contains(stripe))
            return;
        if (engine.Locks.TryEnter(stripe))
            heldExtra.Add(stripe);
        else
            busy.Add(stripe);
    }

    /// <summary>
    /// One delta holding the merged profiles and the write itself, carrying the write's sequence
    /// number: applied to the survivor in a single read-modify-write, so a checkpoint holds either
    /// all of the merge or none of it. Merging a whole record is the same merge a write's delta
    /// gets: identifiers unite, traits keep the later value, event counts and computed cells add up.
    /// </summary>
    ReadOnlySpan<byte> WithMergedProfiles(List<byte[]> merged, ReadOnlySpan<byte> delta, ulong seq)
    {
        int max = engine.Options.Store.MaxProfileBytes;
        // Two scratch buffers, merged into in turn: a merge costs no allocation of profile size.
        mergeScratch ??= [new byte[max + 64], new byte[max + 64]];
        ReadOnlySpan<byte> combined = merged[0];
        int turn = 0;
        for (int i = 1; i <= merged.Count; i++)
        {
            var next = i < merged.Count ? merged[i].AsSpan() : delta;
            var buffer = mergeScratch[turn];
            int n = ProfileRecord.Merge(combined, next, buffer, engine.Computed, engine.SharedValues, engine.Survivorship);
            if (n < 0 || n > max)
                throw new EngineException(Status.ProfileTooLarge, ErrorCode.ProfileTooLarge,
                    $"merging these profiles would pass the profile limit of {max} bytes; nothing was changed.");
            combined = buffer.AsSpan(0, n);
            turn ^= 1;
        }
        ProfileRecord.SetLastSeq(mergeScratch[turn ^ 1], seq);
        return combined;
    }

    byte[][]? mergeScratch;

    /// <summary>
    /// Points the merged profiles' identifiers at the survivor, then leaves an alias under each
    /// merged profile's key, last: a checkpoint that holds an alias holds everything before it.
    /// </summary>
    void RetireMerged(ulong survivor, List<ulong> mergedIds, List<byte[]> records)
    {
        for (int i = 0; i < records.Count; i++)
        {
            var r = new ProfileRecordReader(records[i], engine.SharedValues);
            while (r.NextIdentifier(out var t, out var v))
                UpsertMasterId(IdentityKey(t, v), survivor);
        }
        Span<byte> alias = stackalloc byte[ProfileRecord.AliasSize];
        ProfileRecord.WriteAlias(alias, survivor);
        // Chains collapse: the ids a merged profile had absorbed alias straight to the survivor,
        // so no id is ever more than one hop from its profile. Done before the merged profiles'
        // own aliases, which replay takes as the sign that a merge was retired.
        var absorbed = ReadAbsorbed(survivor);
        foreach (var id in mergedIds)
        {
            foreach (var earlier in ReadAbsorbed(id))
            {
                UpsertValue(ProfileKeyBytes(earlier), alias);
                if (!absorbed.Contains(earlier))
                    absorbed.Add(earlier);
            }
            if (!absorbed.Contains(id))
                absorbed.Add(id);
        }
        WriteAbsorbed(survivor, absorbed);
        foreach (var id in mergedIds)
        {
            UpsertValue(ProfileKeyBytes(id), alias);
            DeleteKey(AbsorbedKey(id));
        }
    }

    static byte[] AbsorbedKey(ulong master)
    {
        var key = new byte[9];
        StoreKeys.WriteAbsorbed(key, master);
        return key;
    }

    /// <summary>The master ids merged into a profile (directly or through a profile it absorbed).</summary>
    List<ulong> ReadAbsorbed(ulong master)
    {
        var list = new List<ulong>();
        absorbedBuffer ??= GC.AllocateArray<byte>(4096, pinned: true);
        if (!TryRead(AbsorbedKey(master), absorbedBuffer, out var output))
            return list;
        byte[] bytes;
        if (output.IsSpanByte)
            bytes = absorbedBuffer.AsSpan(0, output.Length).ToArray();
        else
        {
            using var memory = output.Memory;
            bytes = memory.Memory.Span[..output.Length].ToArray();
        }
        for (int i = 0; i + 8 <= bytes.Length; i += 8)
            list.Add(BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(i)));
        return list;
    }

    byte[]? absorbedBuffer;

    void WriteAbsorbed(ulong master, List<ulong> ids)
    {
        if (ids.Count == 0)
        {
            DeleteKey(AbsorbedKey(master));
            return;
        }
        var bytes = new byte[ids.Count * 8];
        for (int i = 0; i < ids.Count; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 8), ids[i]);
        UpsertValue(AbsorbedKey(master), bytes);
    }

    /// <summary>Re-applies a journalled write at start-up; writes already in the checkpoint change nothing.</summary>
    internal void Replay(long address, JournalEntry e)
    {
        fedComputed.Clear();
        if (e.Kind == WriteKind.Erase)
        {
            ReplayErase(e);
            return;
        }
        if (e.Unmerge is { } u)
        {
            // Rebuilt from the history before it, as live; later entries then apply on top (their
            // sequence numbers are above the rebuilt profiles').
            var plan = PlanUnmerge(e, (u.AnchorType, u.AnchorValue), null);
            ApplyUnmerge(e, plan);
            NoteSeparateHead(plan.KeptId);
            NoteSeparateHead(plan.SplitId);
            SetUnmergeHeads(e.MasterId, address, plan);
            ApplyUnmergeSegments(e, plan.KeptId, plan.SplitId);
            return;
        }
        // A checkpoint is taken while writes run, so it may already hold this write, and even later
        // ones: a later merge may have turned this write's profile into an alias. Then the merge
        // absorbed the profile with this write in it, and only the identifiers are left to point.
        ulong target = ResolveAlias(e.MasterId);
        mergedRecords.Clear();
        liveMerged.Clear();
        foreach (var m in e.MergedFrom)
            if (TryReadProfile(m))
            {
                mergedRecords.Add(view.Record.ToArray());
                liveMerged.Add(m);
            }
        if (target != e.MasterId)
        {
            if (mergedRecords.Count > 0)
                RetireMerged(target, liveMerged, mergedRecords);
        }
        else if (e.MergedFrom.Count > 0 && mergedRecords.Count == e.MergedFrom.Count)
        {
            // Nothing of the merge is retired yet: merge (skipped by sequence number if the
            // survivor already holds it), then retire.
            ApplyDelta(e.MasterId, WithMergedProfiles(mergedRecords, BuildDelta(e), e.Seq), replay: true);
            RetireMerged(e.MasterId, liveMerged, mergedRecords);
        }
        else
        {
            // No merge, or part of it retired in the checkpoint: retiring comes after the survivor's
            // update in the same session, so the survivor holds the merge; finish the retiring.
            ApplyDelta(e.MasterId, BuildDelta(e), replay: true);
            if (mergedRecords.Count > 0)
                RetireMerged(e.MasterId, liveMerged, mergedRecords);
        }
        foreach (var (type, value) in e.Identifiers)
            UpsertMasterId(IdentityKey(type, value), target);
        if (e.MessageId is { } mid)
            UpsertMasterId(DedupeKey(mid), target);
        if (e.Conflicts.Count > 0)
            RecordConflicts(target, e);
        NoteSeparateHead(target);
        SetHistoryHead(target, new HistoryLink(address, HistorySide.Whole));
        foreach (var m in e.MergedFrom)
            DeleteHistoryHead(m);
        ApplySegments(e, target, e.Created && target == e.MasterId);
    }

    readonly List<ulong> liveMerged = [];

    /// <summary>The live profile a master id leads to, following aliases (the id itself when it is live or absent).</summary>
    /// <summary>
    /// Counts the string values of an applied write towards sharing them (<see cref="SharedValueTable"/>).
    /// Only here: a replay, an unmerge's rebuild or a refused write must not count the same person again.
    /// </summary>
    void ObserveSharedValues(JournalEntry e, ulong master)
    {
        var table = engine.SharedValues;
        if (table.MinProfiles == 0)
            return;
        foreach (var (_, value) in e.Traits)
        {
            if (value.Kind == TraitKind.String)
                table.Observe(value.Text!, master, currentMaster);
            else if (value.Kind == TraitKind.StringList)
                foreach (var item in value.List!)
                    table.Observe(item, master, currentMaster);
        }
    }

    ulong ResolveAlias(ulong master)
    {
        for (int hop = 0; hop < MaxAliasHops; hop++)
        {
            if (TryReadProfile(master, out ulong aliasTo) || aliasTo == 0)
                return master;
            master = aliasTo;
        }
        return master;
    }

    /// <summary>
    /// Reads the profile reachable from <paramref name="type"/>/<paramref name="value"/>, projected to
    /// <paramref name="fields"/> (all traits when null). Returns null when there is no such profile.
    /// </summary>
    public ProfileView? GetProfile(string type, string value, IReadOnlyList<string>? fields)
    {
        if (type.Length > ProtocolLimits.MaxNameBytes || value.Length > 4 * ProtocolLimits.MaxIdentifierBytes)
            throw EngineException.BadRequest(ErrorCode.TooLong, "the identifier type or value is too long.", "value");
        Span<byte> typeUtf8 = stackalloc byte[ProtocolLimits.MaxNameBytes * 3];
        var valueUtf8 = new byte[Encoding.UTF8.GetByteCount(value)];
        Encoding.UTF8.GetBytes(value, valueUtf8);
        var view = GetProfile(typeUtf8[..Encoding.UTF8.GetBytes(type, typeUtf8)], valueUtf8);
        view?.SetProjection(fields);
        return view;
    }

    /// <summary>
    /// Reads a profile for <paramref name="purpose"/>: only what the purpose may see, and nothing
    /// (<see cref="Status.Forbidden"/>, <c>no_consent</c>) when the purpose needs consent the person
    /// has not given. With no purposes configured, the purpose is not checked. Null when there is no profile.
    /// </summary>
    public ProfileView? GetProfile(string type, string value, IReadOnlyList<string>? fields, string? purpose)
    {
        var policy = engine.Purposes.ForRead(purpose);
        var view = GetProfile(type, value, fields);
        if (view is null || policy is null)
            return view;
        CheckConsent(view, policy);
        view.SetPurpose(policy);
        return view;
    }

    /// <summary>The purpose a binary read runs under (UTF-8, empty for none), checked as <see cref="Cdp.Server.Consent.PurposeCatalog.ForRead(string?)"/> does, without allocating.</summary>
    public Cdp.Server.Consent.PurposePolicy? PurposeForRead(ReadOnlySpan<byte> purpose) => engine.Purposes.ForRead(purpose);

    /// <summary>Limits a read view to <paramref name="policy"/> (after any field projection), refusing it without the consent the purpose needs.</summary>
    public void LimitToPurpose(ProfileView view, Cdp.Server.Consent.PurposePolicy? policy)
    {
        if (policy is null)
            return;
        CheckConsent(view, policy);
        view.SetPurpose(policy);
    }

    /// <summary>Refuses a read for a consent-based purpose the person has not consented to.</summary>
    internal static void CheckConsent(ProfileView view, Cdp.Server.Consent.PurposePolicy policy)
    {
        if (policy.RequiresConsent && !view.HasConsent(policy.ConsentId))
            throw new EngineException(Status.Forbidden, ErrorCode.NoConsent,
                $"the person has not consented to '{policy.Name}' (its legal basis is consent), so nothing is shown for it.", "purpose");
    }

    /// <summary>
    /// Reads the profile reachable from a UTF-8 identifier type and value, without allocating: the
    /// binary lookup path. The view shows every trait until the caller narrows it with
    /// <see cref="ProfileView.ProjectTo"/>. Returns null when there is no such profile.
    /// </summary>
    public ProfileView? GetProfile(ReadOnlySpan<byte> type, ReadOnlySpan<byte> value)
    {
        ulong master;
        if (type.SequenceEqual("id"u8))
        {
            value = value.Trim((byte)' ');
            if (!System.Buffers.Text.Utf8Parser.TryParse(value, out master, out int consumed) || consumed != value.Length || master == 0)
                return null;
        }
        else
        {
            byte typeId = engine.IdentifierTypes.GetId(type, "type");
            keyBuffer[0] = StoreKeys.Identity;
            keyBuffer[1] = typeId;
            int length = engine.Normalizer.Normalize(typeId, value, keyBuffer.AsSpan(2), "value");
            if (!TryReadMasterId(keyBuffer.AsSpan(0, 2 + length), out master))
                return null;
        }
        // A master id may name a profile merged into another: its alias leads to the survivor.
        for (int hop = 0; ; hop++)
        {
            if (TryReadProfile(master, out ulong aliasTo))
                break;
            if (aliasTo == 0 || hop == MaxAliasHops)
                return null;
            master = aliasTo;
        }
        view.ProjectAll();
        return view;
    }

    /// <summary>The key <paramref name="master"/>'s profile is stored under in the current store. For tests.</summary>
    internal byte[] ProfileKeyForTests(ulong master) => ProfileKeyBytes(master);

    /// <summary>The stored value under a profile key as it is (a record or an alias); empty when none. For tests.</summary>
    internal byte[] ReadRawProfileForTests(ulong master) => ReadRawForTests(ProfileKeyBytes(master));

    /// <summary>The stored value under <paramref name="key"/>, a profile key of either form; empty when none. For tests.</summary>
    internal byte[] ReadRawForTests(ReadOnlySpan<byte> key)
    {
        if (!TryRead(key, recordBuffer, out var output))
            return [];
        if (!output.IsSpanByte)
        {
            using var memory = output.Memory;
            return memory.Memory.Span[..output.Length].ToArray();
        }
        var value = recordBuffer.AsSpan(0, output.Length);
        return (ProfileRecord.IsAlias(value) ? value[..ProfileRecord.AliasSize] : value[..ProfileRecord.UsedLength(value)]).ToArray();
    }

    /// <summary>The master id an identifier's entry holds (no alias followed); 0 when none. For tests.</summary>
    internal ulong ReadIdentifierEntryForTests(string type, string value)
    {
        byte typeId = engine.IdentifierTypes.GetId(type, "type");
        return TryReadMasterId(IdentityKey(typeId, engine.Normalizer.Normalize(typeId, value, "value")), out var master) ? master : 0;
    }

    /// <summary>Whether the store holds a history head as a record of its own for <paramref name="master"/> (the format-3 layout). For tests.</summary>
    internal bool HasSeparateHistoryHeadForTests(ulong master) => HasSeparateHead(master);

    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/> as it is, bypassing the engine. For tests of older stored formats.</summary>
    internal void UpsertRawForTests(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => UpsertValue(key, value);

    /// <summary>Most aliases a lookup by master id follows (merges of merges).</summary>
    const int MaxAliasHops = 64;

    /// <summary>Reads a profile by master id, showing everything (exports walk the ids). Null when there is none.</summary>
    public ProfileView? GetProfileById(ulong master)
    {
        if (master == 0 || !TryReadProfile(master))
            return null;
        view.ProjectAll();
        return view;
    }

    /// <summary>
    /// Validates and normalises the command before any lock is taken; throws on the first problem,
    /// except wrongly typed traits under <c>Traits:PartialWrites</c>, which are removed and returned.
    /// </summary>
    List<TraitRejection>? Prepare(WriteCommand command)
    {
        identifiers.Clear();
        traitIds.Clear();
        List<TraitRejection>? blocked = null;
        foreach (var (type, value, field) in command.Identifiers)
        {
            if (type == IdentifierTypes.MasterId)
                throw EngineException.BadRequest(ErrorCode.UnknownIdentifierType, "'id' is the master profile id; it can be read but not written.", field);
            byte typeId = engine.IdentifierTypes.GetId(type, field);
            // Junk is recognised before and after normalisation ("NULL " and "null" alike), and
            // before it could fail normalisation as a malformed phone number.
            var rules = engine.IdentityRules;
            string normalized;
            if (rules.IsBlocked(typeId, value.Trim()) || rules.IsBlocked(typeId, normalized = engine.Normalizer.Normalize(typeId, value, field)))
            {
                (blocked ??= []).Add(new TraitRejection(field, ErrorCode.Blocklisted,
                    $"{type} '{value}' is on the identity blocklist (Identity:Blocklist) and was ignored."));
                continue;
            }
            bool repeated = false;
            foreach (var other in identifiers)
                repeated |= other.Type == typeId && other.Value == normalized;
            if (!repeated)
                identifiers.Add(new WriteIdentifier(typeId, normalized, 0, field));
        }
        if (identifiers.Count == 0 && blocked is not null)
            throw EngineException.BadRequest(ErrorCode.NoIdentifier,
                "every identifier of the write is on the identity blocklist (" + string.Join("; ", blocked.Select(b => b.Field)) + "); nothing was written.", blocked[0].Field);
        if (identifiers.Count == 0)
            throw EngineException.BadRequest(ErrorCode.NoIdentifier, "a write needs at least one identifier (userId, anonymousId, email, ...).", "identifiers");
        if (command.MessageId is { } messageId)
        {
            if (messageId.Length == 0)
                throw EngineException.BadRequest(ErrorCode.Malformed, "messageId must not be empty.", "messageId");
            if (Encoding.UTF8.GetByteCount(messageId) > ProtocolLimits.MaxIdentifierBytes)
                throw EngineException.BadRequest(ErrorCode.TooLong, $"messageId is limited to {ProtocolLimits.MaxIdentifierBytes} UTF-8 bytes.", "messageId");
        }
        if (command.Kind == WriteKind.Track)
        {
            if (string.IsNullOrEmpty(command.Event))
                throw EngineException.BadRequest(ErrorCode.Missing, "event is required for a track call.", "event");
            if (Encoding.UTF8.GetByteCount(command.Event) > ProtocolLimits.MaxNameBytes)
                throw EngineException.BadRequest(ErrorCode.TooLong, $"event names are limited to {ProtocolLimits.MaxNameBytes} UTF-8 bytes.", "event");
        }
        else if (command.Event is not null || command.Properties.Count > 0)
            throw EngineException.BadRequest(ErrorCode.UnknownField, "identify carries no event or properties.", "event");
        if (command.Timestamp is { } ts && (ts < MinTimestamp || ts > MaxTimestamp))
            throw EngineException.BadRequest(ErrorCode.InvalidTimestamp, "timestamp must be between year 1 and 9999.", "timestamp");
        if (command.Source is { } source)
        {
            if (source.Length == 0)
                throw EngineException.BadRequest(ErrorCode.Malformed, "source must not be empty.", "source");
            if (Encoding.UTF8.GetByteCount(source) > ProtocolLimits.MaxNameBytes)
                throw EngineException.BadRequest(ErrorCode.TooLong, $"source is limited to {ProtocolLimits.MaxNameBytes} UTF-8 bytes.", "source");
        }
        foreach (var (name, _) in command.Traits)
            if (name.StartsWith(SchemaRegistry.ConsentPrefix, StringComparison.Ordinal))
                throw EngineException.BadRequest(ErrorCode.InvalidName,
                    $"trait names starting with '{SchemaRegistry.ConsentPrefix}' are reserved for consent; send consent through PUT /v1/profiles/{{type}}/{{value}}/consent or context.consent.", "traits." + name);
        List<TraitRejection>? rejected = blocked;
        var declared = engine.DeclaredTraits;
        if (declared.Count > 0)
        {
            for (int i = 0; i < command.Traits.Count; i++)
            {
                var (name, value) = command.Traits[i];
                if (declared.Check(name, ref value) is not { } problem)
                {
                    command.Traits[i] = (name, value);
                    continue;
                }
                if (!declared.PartialWrites)
                    throw EngineException.BadRequest(ErrorCode.WrongType, problem + " Nothing was written.", "traits." + name);
                (rejected ??= []).Add(new TraitRejection("traits." + name, ErrorCode.WrongType, problem));
                command.Traits.RemoveAt(i--);
            }
        }
        // Consent statements are stored as the profile's consent per purpose, with the write's source
        // and time: the most recent statement per purpose survives, also across merges.
        // Consent management platforms send every category they know: those of the Segment Spec's
        // categoryPreferences that name no purpose (case aside) are not this server's concern.
        int consentsBefore = command.Traits.Count;
        foreach (var (purpose, granted, field) in command.Consents)
        {
            var policy = engine.Purposes.Find(purpose) ?? engine.Purposes.FindIgnoringCase(purpose);
            if (policy is null)
            {
                if (field.Contains("categoryPreferences", StringComparison.Ordinal))
                    continue;
                throw EngineException.BadRequest(ErrorCode.UnknownPurpose, engine.Purposes.Enforced
                    ? $"'{purpose}' is not a configured purpose (one of: {string.Join(", ", engine.Purposes.Names)})."
                    : $"'{purpose}' is not a configured purpose: no purposes are configured (Purposes).", field);
            }
            var name = SchemaRegistry.ConsentPrefix + policy.Name;
            for (int i = consentsBefore; i < command.Traits.Count; i++)
                if (command.Traits[i].Name == name)
                    throw EngineException.BadRequest(ErrorCode.DuplicateKey, $"consent to '{policy.Name}' is stated twice.", field);
            command.Traits.Add((name, TraitValue.Bool(granted)));
        }
        // Names are interned last: an interned name is harmless even if the write fails later. The
        // order (traits, event, source) is the order BuildDelta meets them in, so that replaying the
        // journal onto an empty registry hands out the same ids as the live writes did.
        foreach (var (name, value) in command.Traits)
            traitIds.Add((engine.Schema.Intern(name, "traits." + name), value));
        if (command.Event is { } eventName)
            engine.Schema.Intern(eventName, "event");
        if (command.Source is { } s && !engine.Schema.TryGetId(SourcePrefix + s, out _))
        {
            if (!engine.TryAddSource())
                throw EngineException.BadRequest(ErrorCode.TooMany,
                    $"the server knows {ProfileEngine.MaxSources} distinct sources already; source names a system (crm, shop), not a request.", "source");
            engine.Schema.Intern(SourcePrefix + s, "source");
        }
        return rejected;
    }

    static readonly long MinTimestamp = DateTimeOffset.MinValue.ToUnixTimeMilliseconds();
    static readonly long MaxTimestamp = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    /// <summary>
    /// The delta record of a journalled write: identifiers, traits with their source, the event's
    /// counter and its contribution to every computed trait that selects it. A pure function of
    /// the entry and the configuration, used by the live path and by replay alike.
    /// </summary>
    ReadOnlySpan<byte> BuildDelta(JournalEntry e)
    {
        builder.Reset();
        fedComputed.Clear();
        foreach (var (type, value) in e.Identifiers)
            builder.AddIdentifier(type, value);
        foreach (var (name, value) in e.Traits)
            builder.AddTrait(engine.Schema.Intern(name, "traits." + name), value);
        if (e.Event is { } ev)
        {
            builder.AddEvent(engine.Schema.Intern(ev, "event"), e.EventTime);
            // A source's clock running ahead must not put an event into a future bucket.
            long time = Math.Min(e.EventTime, e.ReceivedAt);
            var computed = engine.Computed;
            for (int i = 0; i < computed.Traits.Count; i++)
            {
                var d = computed.Traits[i];
                if (d.Selects(ev, e.Properties))
                {
                    builder.AddComputed(computed.StorageIdOf(i), d, time, d.PropertyValue(e.Properties));
                    fedComputed.Add(i);
                }
            }
        }
        int source = e.Source is null ? -1 : engine.Schema.Intern(SourcePrefix + e.Source, "source");
        return builder.Build(e.Seq, e.ReceivedAt, e.EventTime, source);
    }

    /// <summary>Sources share the name registry with traits and events under this prefix.</summary>
    internal const string SourcePrefix = "source:";

    /// <summary>
    /// Fills <see cref="entry"/> and encodes it into <see cref="journalBuffer"/>. A write to one existing
    /// profile learns that profile's last entry from the store operation that applies it
    /// (<see cref="ProfileInput.ReportHead"/>), so for it only the head is encoded here and true is
    /// returned: the caller appends the links with <see cref="FinishJournalEntry"/> after the apply.
    /// </summary>
    bool EncodeJournalEntry(WriteCommand command, ulong master, ulong seq, bool created, long receivedAt, long eventTime)
    {
        entry.Reset();
        entry.Kind = command.Kind;
        entry.Seq = seq;
        entry.MasterId = master;
        entry.Created = created;
        entry.ReceivedAt = receivedAt;
        entry.EventTime = eventTime;
        entry.MessageId = command.MessageId;
        entry.Source = command.Source;
        for (int j = 1; j < masters.Count; j++)
            entry.MergedFrom.Add(masters[j]);
        foreach (var id in identifiers)
            if (!IsConflict(id))
                entry.Identifiers.Add((id.Type, id.Value));
        foreach (var (index, owner, reason) in resolver.Conflicts)
            entry.Conflicts.Add((identifiers[index].Type, identifiers[index].Value, owner, reason));
        bool linksAfterApply = masters.Count == 1 && !created;
        if (!linksAfterApply)
            for (int j = 0; j < masters.Count; j++)
                if (ReadHistoryHead(masters[j]) is { } link)
                    entry.Previous.Add(link);
        entry.Traits.AddRange(command.Traits);
        entry.Event = command.Event;
        entry.Properties.AddRange(command.Properties);
        journalBuffer.ResetWrittenCount();
        if (!linksAfterApply)
        {
            entry.Write(journalBuffer);
            return false;
        }
        entry.WriteHead(journalBuffer);
        return true;
    }

    /// <summary>
    /// Completes an entry whose links <see cref="EncodeJournalEntry"/> left open, from the head the apply
    /// reported. A record that held none (or a zero one) may still have a head kept as a record of its own
    /// (format 3): <see cref="ReadHistoryHead"/> looks, and notes it for <see cref="SetHistoryHead"/> to move.
    /// </summary>
    void FinishJournalEntry(ulong master, ReadOnlySpan<byte> headReport)
    {
        long address = BinaryPrimitives.ReadInt64LittleEndian(headReport);
        if (headReport[9] == 1 && address != 0)
            entry.Previous.Add(new HistoryLink(address, (HistorySide)headReport[8]));
        else if (ReadHistoryHead(master) is { } link)
            entry.Previous.Add(link);
        entry.WriteTail(journalBuffer);
    }

    /// <summary>
    /// Appends the entry in <see cref="journalBuffer"/>, sealed under its profile's key (erasures, which
    /// carry nothing of the person, stay plain so that replay always reads them).
    /// </summary>
    long AppendJournal()
    {
        try
        {
            if (entry.Kind == WriteKind.Erase)
                return engine.Journal.Append(journalBuffer.WrittenSpan);
            int needed = journalBuffer.WrittenCount + SealedEntry.Overhead;
            if (sealBuffer.Length < needed)
                sealBuffer = new byte[Math.Max(needed, sealBuffer.Length * 2)];
            ulong highest = entry.MasterId;
            if (entry.Unmerge is { } u)
                highest = Math.Max(highest, Math.Max(u.KeptId, u.SplitId));
            Span<byte> key = stackalloc byte[Cdp.Server.Erasure.ProfileKeys.KeyBytes];
            engine.Keys.GetOrCreate(entry.MasterId, key);
            int length;
            try
            {
                length = SealedEntry.Seal(cipher, key, ref nonces, entry.MasterId, entry.Seq, highest, journalBuffer.WrittenSpan, sealBuffer, keepKey: batching);
            }
            finally
            {
                key.Clear();
            }
            return engine.Journal.Append(sealBuffer.AsSpan(0, length));
        }
        catch (Exception e)
        {
            // The store already holds this write, so the store and the journal now disagree: stop
            // taking writes (a retry must not be acknowledged as a duplicate of a write that was
            // never made durable) until an operator restarts the server, which recovers from the journal.
            engine.Journal.Fail(e);
            throw new EngineException(Status.Unavailable, ErrorCode.Unavailable, "the journal refused the write; the server accepts no more writes until it is restarted: " + e.Message);
        }
    }

    byte[] sealBuffer = new byte[1024];
    NonceSequence nonces;
    bool batching;

    /// <summary>
    /// Starts a run of requests handled back to back (the frames of one receive): sealing leaves the last
    /// profile key in the cipher instead of clearing it after every entry (a second AES key schedule,
    /// about a third of sealing), and <see cref="EndBatch"/> clears it once. A key still lingers no longer
    /// than the run: an erased person's key is gone from here by the time their erasure is answered
    /// unless a run of this session is under way, and then when it ends.
    /// </summary>
    public void BeginBatch() => batching = true;

    /// <summary>Whether the session's cipher may still hold a profile key (see <see cref="BeginBatch"/>).</summary>
    internal bool CipherHoldsKey => cipher.HoldsKey;

    /// <summary>Ends the run started by <see cref="BeginBatch"/> and clears the key the cipher holds.</summary>
    public void EndBatch()
    {
        batching = false;
        cipher.Forget();
    }

    /// <summary>
    /// Re-keyed for every entry (<see cref="EntryCipher"/>): writes spread over many profiles, so a
    /// cache of per-key cipher objects would rarely hit.
    /// </summary>
    readonly EntryCipher cipher = new();

    /// <summary>
    /// Merges <paramref name="delta"/> into <paramref name="master"/>'s record. A non-empty
    /// <paramref name="headReport"/> (<see cref="ProfileInput.HeadReportSize"/> bytes) receives the
    /// record's history head as it was before (<see cref="ProfileInput.ReportHead"/>).
    /// </summary>
    void ApplyDelta(ulong master, ReadOnlySpan<byte> delta, bool replay, Span<byte> headReport = default)
    {
        int inputLength = ProfileInput.HeaderSize + delta.Length;
        if (inputLength > engine.Options.Store.MaxProfileBytes + ProfileInput.HeaderSize)
            throw new EngineException(Status.ProfileTooLarge, ErrorCode.ProfileTooLarge,
                $"the write alone is larger than the profile limit of {engine.Options.Store.MaxProfileBytes} bytes.");
        var input = inputLength <= inputBuffer.Length ? inputBuffer : new byte[inputLength];
        input[0] = (byte)((replay ? ProfileInput.Replay : 0) | (headReport.IsEmpty ? 0 : ProfileInput.ReportHead));
        headReport.Clear();
        input.AsSpan(1, ProfileInput.HeaderSize - 1).Clear();
        delta.CopyTo(input.AsSpan(ProfileInput.HeaderSize));
        Span<byte> key = stackalloc byte[9];
        key = key[..WriteProfileKey(key, master)];
        var status = Rmw(key, input.AsSpan(0, inputLength), headReport);
        if (status.IsCanceled)
            throw new EngineException(Status.ProfileTooLarge, ErrorCode.ProfileTooLarge,
                $"the write would grow the profile past the limit of {engine.Options.Store.MaxProfileBytes} bytes; nothing was changed.");
        if (status.IsFaulted)
            throw new EngineException(Status.InternalError, ErrorCode.Internal, "the store failed to apply the write.");
    }

    /// <summary>
    /// One read-modify-write of <paramref name="key"/> with <paramref name="input"/>, completed here if it
    /// goes to disk; what the callbacks report goes to <paramref name="outputBuffer"/> (none when empty).
    /// </summary>
    FASTER.core.Status Rmw(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, Span<byte> outputBuffer = default)
    {
        fixed (byte* k = key, i = input, o = outputBuffer)
        {
            var keySpan = SpanByte.FromPointer(k, key.Length);
            var inputSpan = SpanByte.FromPointer(i, input.Length);
            SpanByteAndMemory output = outputBuffer.IsEmpty ? default : new SpanByteAndMemory(SpanByte.FromPointer(o, outputBuffer.Length));
            FASTER.core.Status status;
            EnterStore();
            try
            {
                status = session.RMW(ref keySpan, ref inputSpan, ref output);
                if (status.IsPending)
                {
                    session.CompletePendingWithOutputs(out var completed, wait: true);
                    using (completed)
                    {
                        completed.Next();
                        status = completed.Current.Status;
                        completed.Current.Output.Memory?.Dispose();
                    }
                }
            }
            finally
            {
                ExitStore();
            }
            output.Memory?.Dispose();
            return status;
        }
    }

    /// <summary>
    /// Reads <paramref name="key"/> into the pinned <paramref name="buffer"/> (FASTER rents memory
    /// instead when the value is larger; the caller disposes it). A read that goes to disk is completed
    /// here, in the frame that owns the buffer, so FASTER never writes into memory that has moved on.
    /// </summary>
    bool TryRead(ReadOnlySpan<byte> key, byte[] buffer, out SpanByteAndMemory output) => TryRead(key, default, buffer, out output);

    /// <summary>As above, with a read input for the store's callbacks (<see cref="ProfileInput.ReadHeader"/>); empty for a whole value.</summary>
    bool TryRead(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, byte[] buffer, out SpanByteAndMemory output)
    {
        fixed (byte* k = key, i = input, v = buffer)
        {
            var keySpan = SpanByte.FromPointer(k, key.Length);
            var inputSpan = SpanByte.FromPointer(i, input.Length);
            output = new SpanByteAndMemory(SpanByte.FromPointer(v, buffer.Length));
            EnterStore();
            try
            {
                var status = session.Read(ref keySpan, ref inputSpan, ref output);
                if (status.IsPending)
                {
                    session.CompletePendingWithOutputs(out var completed, wait: true);
                    using (completed)
                    {
                        completed.Next();
                        status = completed.Current.Status;
                        output = completed.Current.Output;
                    }
                }
                return status.Found;
            }
            finally
            {
                ExitStore();
            }
        }
    }

    bool TryReadMasterId(ReadOnlySpan<byte> key, out ulong master)
    {
        master = 0;
        if (!TryRead(key, valueBuffer, out var output))
            return false;
        ReadOnlySpan<byte> value;
        IMemoryOwner<byte>? owner = null;
        if (output.IsSpanByte)
            value = valueBuffer.AsSpan(0, output.Length);
        else
        {
            owner = output.Memory;
            value = owner.Memory.Span[..output.Length];
        }
        using (owner)
            master = value.Length switch
            {
                4 => BinaryPrimitives.ReadUInt32LittleEndian(value),
                8 => BinaryPrimitives.ReadUInt64LittleEndian(value),
                _ => throw new EngineException(Status.InternalError, ErrorCode.Internal, $"a stored master id has {value.Length} bytes; the store is damaged."),
            };
        return true;
    }

    bool TryReadProfile(ulong master) => TryReadProfile(master, out _);

    /// <summary>Reads a live profile into the view; false when there is none, with <paramref name="aliasTo"/> set when it was merged into another.</summary>
    bool TryReadProfile(ulong master, out ulong aliasTo)
    {
        aliasTo = 0;
        Span<byte> key = stackalloc byte[9];
        SpanByteAndMemory output;
        while (true)
        {
            int switches = StoreSwitches;
            if (TryRead(key[..WriteProfileKey(key, master)], recordBuffer, out output))
                break;
            if (switches == StoreSwitches)
                return false;
        }
        if (!output.IsSpanByte)
        {
            // Larger than the session buffer (only possible if the limit was lowered): copy out.
            using var memory = output.Memory;
            var bytes = memory.Memory.Span[..output.Length];
            if (bytes.Length > recordBuffer.Length)
                recordBuffer = GC.AllocateArray<byte>(bytes.Length, pinned: true);
            bytes.CopyTo(recordBuffer);
        }
        var record = recordBuffer.AsSpan(0, output.Length);
        if (ProfileRecord.IsAlias(record))
        {
            aliasTo = ProfileRecord.AliasTarget(record);
            return false;
        }
        if (!ProfileRecord.IsValid(record))
            throw new EngineException(Status.InternalError, ErrorCode.Internal, $"the stored record of profile {master} is damaged.");
        view.Set(recordBuffer, ProfileRecord.UsedLength(record), master);
        return true;
    }

    /// <summary>
    /// Points an identifier (or a messageId) at a profile. Ids below 2^32 take 4 bytes, larger ones 8
    /// (<see cref="TryReadMasterId"/> tells them apart by length): with FASTER's 8-byte record
    /// alignment that is 8 bytes less per identifier, a tracked figure (docs/performance.md).
    /// </summary>
    void UpsertMasterId(ReadOnlySpan<byte> key, ulong master)
    {
        Span<byte> value = stackalloc byte[8];
        if (master <= uint.MaxValue)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(value, (uint)master);
            UpsertValue(key, value[..4]);
        }
        else
        {
            BinaryPrimitives.WriteUInt64LittleEndian(value, master);
            UpsertValue(key, value);
        }
    }

    ReadOnlySpan<byte> IdentityKey(byte type, string value) => keyBuffer.AsSpan(0, StoreKeys.WriteIdentity(keyBuffer, type, value));

    ReadOnlySpan<byte> IdentityKey(byte type, ReadOnlySpan<byte> utf8Value)
    {
        keyBuffer[0] = StoreKeys.Identity;
        keyBuffer[1] = type;
        utf8Value.CopyTo(keyBuffer.AsSpan(2));
        return keyBuffer.AsSpan(0, 2 + utf8Value.Length);
    }

    byte[] ProfileKeyBytes(ulong master)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxProfileKeyLength];
        return key[..WriteProfileKey(key, master)].ToArray();
    }

    /// <summary>
    /// Writes the key of <paramref name="master"/>'s profile in the form the current store uses and returns its length.
    /// A write holds its stripes, which a compaction waits for, so the form cannot change under it; a read
    /// takes none and can wait in <see cref="EnterStore"/> while the compaction that first moves an older
    /// store to compact keys runs. Reads therefore compare <see cref="StoreSwitches"/> before and after a
    /// miss and look again under the new store's key (the two forms never name different profiles).
    /// </summary>
    int WriteProfileKey(Span<byte> destination, ulong master)
    {
        int length = StoreKeys.WriteProfile(destination, master, engine.Store.CompactProfileKeys);
        AfterProfileKeyForTests?.Invoke();
        return length;
    }

    /// <summary>Runs after each profile key is built, before it is used. For tests of a compaction that lands in between.</summary>
    internal Action? AfterProfileKeyForTests;

    void UpsertValue(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        fixed (byte* k = key, v = value)
        {
            var keySpan = SpanByte.FromPointer(k, key.Length);
            var valueSpan = SpanByte.FromPointer(v, value.Length);
            EnterStore();
            try
            {
                var status = session.Upsert(ref keySpan, ref valueSpan);
                if (status.IsPending)
                    session.CompletePending(wait: true);
            }
            finally
            {
                ExitStore();
            }
        }
    }

    /// <summary>
    /// The last history entry of a profile; null when it has none (written before history was kept).
    /// A record of format 4 or later holds its head in its header (<see cref="ProfileRecord.HistoryHeadAddress"/>),
    /// read here without copying the rest of the record. Records written before that kept the head as
    /// a store record of its own under <see cref="StoreKeys.WriteHistory"/>, which is still read; the
    /// first write that finds one moves it into the record and deletes it (<see cref="SetHistoryHead"/>).
    /// </summary>
    HistoryLink? ReadHistoryHead(ulong master)
    {
        Span<byte> key = stackalloc byte[9];
        while (true)
        {
            int switches = StoreSwitches;
            if (TryReadHeader(key[..WriteProfileKey(key, master)], out long address, out byte side))
            {
                if (address != 0)
                    return new HistoryLink(address, (HistorySide)side);
                break;
            }
            if (switches == StoreSwitches)
                break;
        }
        StoreKeys.WriteHistory(key, master);
        if (!TryRead(key, valueBuffer, out var output))
            return null;
        ReadOnlySpan<byte> value = valueBuffer;
        if (!output.IsSpanByte)
        {
            using var memory = output.Memory;
            value = memory.Memory.Span[..HistoryHeadBytes].ToArray();
        }
        else if (output.Length < HistoryHeadBytes)
            throw new EngineException(Status.InternalError, ErrorCode.Internal, $"the history head of profile {master} has {output.Length} bytes; the store is damaged.");
        // Bounded: a session that only reads old profiles (access reports) must not collect them all.
        if (separateHeads.Count >= 1024)
            separateHeads.Clear();
        separateHeads.Add(master);
        return new HistoryLink(BinaryPrimitives.ReadInt64LittleEndian(value), (HistorySide)value[8]);
    }

    /// <summary>
    /// Replay sets heads without reading them first (<see cref="ReadHistoryHead"/> notes what it
    /// finds): this looks for a head kept as a record of its own, so that replaying over a store of
    /// format-3 records leaves the same store as the live writes did. One read per replayed entry.
    /// </summary>
    void NoteSeparateHead(ulong master)
    {
        if (HasSeparateHead(master))
            separateHeads.Add(master);
    }

    bool HasSeparateHead(ulong master)
    {
        Span<byte> key = stackalloc byte[9];
        StoreKeys.WriteHistory(key, master);
        bool found = TryRead(key, valueBuffer, out var output);
        output.Memory?.Dispose();
        return found;
    }

    /// <summary>Profiles whose head this session found as a record of its own; the next <see cref="SetHistoryHead"/> deletes it.</summary>
    readonly HashSet<ulong> separateHeads = [];

    /// <summary>Reads only the fixed header of a profile record; false when there is no record of format 4 or later under <paramref name="key"/>.</summary>
    bool TryReadHeader(ReadOnlySpan<byte> key, out long headAddress, out byte headSide)
    {
        headAddress = 0;
        headSide = 0;
        ReadOnlySpan<byte> input = [ProfileInput.ReadHeader];
        if (!TryRead(key, input, headerBuffer, out var output))
            return false;
        if (!output.IsSpanByte)
            throw new InvalidOperationException("a header read returned pooled memory.");
        var header = headerBuffer.AsSpan(0, output.Length);
        if (header.Length < ProfileRecord.HeaderSize || ProfileRecord.IsAlias(header) || !ProfileRecord.HasHistoryHead(header))
            return false;
        headAddress = ProfileRecord.HistoryHeadAddress(header);
        headSide = ProfileRecord.HistoryHeadSide(header);
        return true;
    }

    readonly byte[] headerBuffer = GC.AllocateArray<byte>(ProfileRecord.HeaderSize, pinned: true);

    /// <summary>
    /// A history head as a record of its own (format-3 profiles): the entry's journal address and
    /// the side of it (9 bytes; heads written before took 16, of which these are the first 9).
    /// </summary>
    const int HistoryHeadBytes = 9;

    /// <summary>
    /// Points the profile's history head at <paramref name="link"/>: in its record (format 4 or later), which
    /// the write has just updated, or, for a record still in format 3, as a record of its own.
    /// </summary>
    void SetHistoryHead(ulong master, HistoryLink link)
    {
        Span<byte> key = stackalloc byte[9];
        Span<byte> input = stackalloc byte[ProfileInput.SetHistoryHeadSize];
        input.Clear();
        input[0] = ProfileInput.SetHistoryHead;
        BinaryPrimitives.WriteInt64LittleEndian(input[ProfileInput.HeaderSize..], link.Address);
        input[ProfileInput.HeaderSize + 8] = (byte)link.Side;
        if (TryRmw(key[..WriteProfileKey(key, master)], input))
        {
            if (separateHeads.Remove(master))
            {
                StoreKeys.WriteHistory(key, master);
                DeleteKey(key);
            }
            return;
        }
        StoreKeys.WriteHistory(key, master);
        Span<byte> value = stackalloc byte[HistoryHeadBytes];
        BinaryPrimitives.WriteInt64LittleEndian(value, link.Address);
        value[8] = (byte)link.Side;
        UpsertValue(key, value);
    }

    /// <summary>One read-modify-write with a non-delta input; false when FASTER found no record or the callbacks refused it.</summary>
    bool TryRmw(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input)
    {
        var status = Rmw(key, input);
        if (status.IsFaulted)
            throw new EngineException(Status.InternalError, ErrorCode.Internal, "the store failed to move a history head.");
        return status.Found && !status.IsCanceled;
    }

    /// <summary>Drops a head kept as a record of its own (a merged-away profile's; one in a record goes with the record).</summary>
    void DeleteHistoryHead(ulong master)
    {
        separateHeads.Remove(master);
        Span<byte> key = stackalloc byte[9];
        StoreKeys.WriteHistory(key, master);
        DeleteKey(key);
    }

    void DeleteKey(ReadOnlySpan<byte> key)
    {
        fixed (byte* k = key)
        {
            var keySpan = SpanByte.FromPointer(k, key.Length);
            EnterStore();
            try
            {
                var status = session.Delete(ref keySpan);
                if (status.IsPending)
                    session.CompletePending(wait: true);
            }
            finally
            {
                ExitStore();
            }
        }
    }

    /// <summary>
    /// Keeps the identifiers a write could not link with the profile it landed on, newest last and
    /// at most <see cref="MaxConflicts"/>, so an operator sees in the export why two records stayed
    /// apart. Replay skips entries the stored list already holds (by sequence number).
    /// </summary>
    void RecordConflicts(ulong master, JournalEntry e)
    {
        var list = ReadConflicts(master);
        if (list.Count > 0 && list[^1].Seq >= e.Seq)
            return;
        foreach (var (type, value, owner, reason) in e.Conflicts)
            list.Add(new IdentityConflict(e.Seq, e.ReceivedAt, engine.IdentifierTypes.GetName(type), value, owner, reason));
        if (list.Count > MaxConflicts)
            list.RemoveRange(0, list.Count - MaxConflicts);
        Span<byte> key = stackalloc byte[9];
        StoreKeys.WriteConflicts(key, master);
        UpsertValue(key, IdentityConflict.Encode(list));
    }

    byte[]? conflictBuffer;

    /// <summary>Most identity conflicts kept per profile.</summary>
    public const int MaxConflicts = 50;

    /// <summary>The identity conflicts recorded on a profile, oldest first.</summary>
    public List<IdentityConflict> ReadConflicts(ulong master)
    {
        Span<byte> key = stackalloc byte[9];
        StoreKeys.WriteConflicts(key, master);
        // Its own buffer: the session's record buffer may be showing a profile.
        conflictBuffer ??= GC.AllocateArray<byte>(8192, pinned: true);
        if (!TryRead(key, conflictBuffer, out var output))
            return [];
        if (!output.IsSpanByte)
        {
            using var memory = output.Memory;
            return IdentityConflict.Decode(memory.Memory[..output.Length].ToArray());
        }
        return IdentityConflict.Decode(conflictBuffer.AsSpan(0, output.Length).ToArray());
    }

    ReadOnlySpan<byte> DedupeKey(string messageId) => keyBuffer.AsSpan(0, StoreKeys.WriteDedupe(keyBuffer, messageId));

    /// <summary>A profile's lock stripe, hashed from its 9-byte key whichever form the store holds, so stripes do not move with a compaction.</summary>
    internal int ProfileStripe(ulong master)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxProfileKeyLength];
        return engine.Locks.StripeOf(key[..StoreKeys.WriteProfile(key, master, compact: false)]);
    }

    static void SortDistinct(List<int> list)
    {
        list.Sort();
        int w = 0;
        for (int r = 0; r < list.Count; r++)
            if (w == 0 || list[r] != list[w - 1])
                list[w++] = list[r];
        list.RemoveRange(w, list.Count - w);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        cipher.Dispose();
        engine.Unregister(this, () => session.Dispose());
    }
}
