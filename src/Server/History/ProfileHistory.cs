using Cdp.Server.Journal;

namespace Cdp.Server.History;

/// <summary>
/// Reads a profile's history out of the journal by following its back links, so that the cost is
/// the profile's own writes, not the journal's length. Unmerges along the way are applied again:
/// the history of one side of an unmerge is that side of the history before it.
/// </summary>
public sealed class ProfileHistory(WriteJournal journal, Cdp.Server.Erasure.ProfileKeys keys)
{
    /// <summary>Most entries one walk reads; a profile with more is refused rather than hold the server.</summary>
    public const int MaxEntries = 200_000;

    int read;

    /// <summary>The writes of the profile whose history ends at <paramref name="heads"/>, in sequence order.</summary>
    /// <exception cref="HistoryUnavailableException">An entry is no longer in the journal, or the walk is too long.</exception>
    public List<HistoryItem> Collect(IEnumerable<HistoryLink> heads)
    {
        read = 0;
        return Walk(heads);
    }

    List<HistoryItem> Walk(IEnumerable<HistoryLink> heads)
    {
        var items = new List<HistoryItem>();
        var visited = new HashSet<HistoryLink>();
        var stack = new Stack<HistoryLink>(heads);
        while (stack.Count > 0)
        {
            var link = stack.Pop();
            if (!visited.Add(link))
                continue;
            if (++read > MaxEntries)
                throw new HistoryUnavailableException($"the profile's history has more than {MaxEntries} entries; it is too long to rebuild.");
            var bytes = journal.ReadEntry(link.Address)
                ?? throw new HistoryUnavailableException($"the journal no longer holds entry {link.Address} of the profile's history (Journal:KeepHistory was off, or the entry was truncated).");
            JournalEntry entry;
            try
            {
                entry = SealedEntry.Open(bytes, keys)
                    ?? throw new HistoryUnavailableException($"journal entry {link.Address} of the profile's history belongs to an erased profile.");
            }
            catch (InvalidDataException e)
            {
                throw new HistoryUnavailableException($"journal entry {link.Address} is unreadable: {e.Message}");
            }
            if (entry.Unmerge is { } u)
            {
                var before = Walk(entry.Previous);
                var (kept, split, _, _) = UnmergePartition.Split(before, entry.Identifiers, (u.AnchorType, u.AnchorValue));
                items.AddRange(link.Side == HistorySide.Split ? split : kept);
                continue;
            }
            items.Add(new HistoryItem(link.Address, entry, entry.Identifiers));
            foreach (var previous in entry.Previous)
                stack.Push(previous);
        }
        var seen = new HashSet<long>();
        items.RemoveAll(i => !seen.Add(i.Address));
        items.Sort((a, b) => a.Entry.Seq.CompareTo(b.Entry.Seq));
        return items;
    }
}

/// <summary>A profile's history cannot be read back from the journal.</summary>
public sealed class HistoryUnavailableException(string message) : Exception(message);
