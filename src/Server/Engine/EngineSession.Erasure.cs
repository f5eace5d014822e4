using Cdp.Server.History;
using Cdp.Server.Journal;
using Cdp.Server.Profiles;
using Cdp.Server.Segments;
using Cdp.Server.Storage;

namespace Cdp.Server.Engine;

// Erasure (right to be forgotten): the person leaves the store, the identity graph and every segment.
public sealed unsafe partial class EngineSession
{
    /// <summary>
    /// Erases the person <paramref name="type"/>/<paramref name="value"/> names: the profile and every
    /// profile merged into it, all their identifiers (which then lead nowhere; a later write with one
    /// starts a fresh profile), old master ids, memberships (with exit changes), identity conflicts,
    /// history links and the dedupe keys of their writes. Journalled (without any of the person's data),
    /// so replay erases again. Null when no profile is reachable (erasing twice changes nothing).
    /// </summary>
    public EraseResult? Erase(string type, string value)
    {
        engine.EnsureWritable();
        while (true)
        {
            if (GetProfile(type, value, null) is not { } found)
                return null;
            ulong master = found.MasterId;
            var record = found.Record.ToArray();
            stripes.Clear();
            var reader = new ProfileRecordReader(record, null);
            while (reader.NextIdentifier(out var t, out var v))
                stripes.Add(engine.Locks.StripeOf(IdentityKey(t, v)));
            stripes.Add(ProfileStripe(master));
            SortDistinct(stripes);
            engine.Locks.Enter(stripes);
            try
            {
                // A write may have changed the profile meanwhile (a new identifier's stripe is not held).
                if (!TryReadProfile(master) || !view.Record.SequenceEqual(record))
                    continue;
                long now = engine.NowUnixMs();
                var absorbed = ReadAbsorbed(master);
                var messageIds = MessageIdsOf(master);
                entry.Reset();
                entry.Kind = WriteKind.Erase;
                entry.Seq = engine.NextSeq();
                entry.MasterId = master;
                entry.ReceivedAt = now;
                entry.EventTime = now;
                entry.MergedFrom.AddRange(absorbed);
                journalBuffer.ResetWrittenCount();
                entry.Write(journalBuffer);
                ApplyErase(master, record, absorbed, messageIds, now);
                long address = AppendJournal();
                // The keys of the person's journal entries go once this entry is durable. A seal
                // reads the key and clears it; the cipher context keeps its schedule only until the
                // end of the sealing session's run of requests (BeginBatch: one binary receive), then
                // re-keys with zeros (EntryCipher.Forget), so no copy outlives a run under way.
                engine.Keys.DestroyAfterCommit([.. absorbed, master], address);
                engine.NoteErasure();
                return new EraseResult(master, absorbed.Count, address);
            }
            finally
            {
                engine.Locks.Exit(stripes);
            }
        }
    }

    /// <summary>The messageIds of the profile's writes, from its history (none when the history is not held).</summary>
    List<string> MessageIdsOf(ulong master)
    {
        var ids = new List<string>();
        if (ReadHistoryHead(master) is not { } head)
            return ids;
        engine.Journal.CommitNow();
        try
        {
            foreach (var item in new ProfileHistory(engine.Journal, engine.Keys).Collect([head]))
                if (item.Entry.MessageId is { } m)
                    ids.Add(m);
        }
        catch (HistoryUnavailableException)
        {
            // Without the history the dedupe keys stay: they map a messageId to an id that no longer exists.
        }
        return ids;
    }

    void ApplyErase(ulong master, byte[] record, List<ulong> absorbed, List<string> messageIds, long now)
    {
        if (engine.Segments.Current.All.Length > 0)
            Segments.RemoveAll(master, now, SegmentChangeReason.Erased);
        if (record.Length > 0)
        {
            var reader = new ProfileRecordReader(record, null);
            while (reader.NextIdentifier(out var t, out var v))
                DeleteKey(IdentityKey(t, v));
        }
        foreach (var m in messageIds)
            DeleteKey(DedupeKey(m));
        Span<byte> key = stackalloc byte[9];
        foreach (var id in absorbed.Append(master))
        {
            DeleteKey(ProfileKeyBytes(id));
            DeleteKey(AbsorbedKey(id));
            StoreKeys.WriteHistory(key, id);
            DeleteKey(key);
            StoreKeys.WriteConflicts(key, id);
            DeleteKey(key);
            StoreKeys.WriteMemberships(key, id);
            DeleteKey(key);
            engine.Candidates?.Remove(id);
        }
    }

    /// <summary>Replays an erasure: whatever of the person the store holds (the checkpoint may have it all, part or none) goes.</summary>
    void ReplayErase(JournalEntry e)
    {
        var record = TryReadProfile(e.MasterId) ? view.Record.ToArray() : [];
        var messageIds = record.Length > 0 ? MessageIdsOf(e.MasterId) : [];
        ApplyErase(e.MasterId, record, e.MergedFrom, messageIds, e.ReceivedAt);
        // The entry is durable, so the keys go now, if the live erasure did not get to it before a crash.
        engine.Keys.Destroy(e.MergedFrom.Append(e.MasterId));
        engine.NoteErasure();
    }
}

/// <summary>An erasure done: the erased master id, how many merged profiles went with it, and the journal address to wait for.</summary>
public readonly record struct EraseResult(ulong ProfileId, int Fragments, long JournalAddress);
