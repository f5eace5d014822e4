namespace Cdp.Server.History;

/// <summary>
/// The rule that splits a profile's history in two, "as if the wrong link had never been made".
/// The kept side is everything the anchor (the identifier the unmerge was addressed by) is linked
/// to by writes that carry none of the split identifiers; the split side is the rest: the split
/// identifiers and whatever came with them. A write that carried identifiers of both sides (the
/// wrong link) counts for the kept side, without the split side's identifiers.
/// </summary>
public static class UnmergePartition
{
    /// <summary>Splits <paramref name="items"/> (in sequence order); each side keeps that order.</summary>
    public static (List<HistoryItem> Kept, List<HistoryItem> Split, HashSet<(byte, string)> KeptIdentifiers, HashSet<(byte, string)> SplitIdentifiers) Split(
        IReadOnlyList<HistoryItem> items, IReadOnlyCollection<(byte Type, string Value)> split, (byte Type, string Value) anchor)
    {
        var parent = new Dictionary<(byte, string), (byte, string)>();
        (byte, string) Find((byte, string) x)
        {
            var root = x;
            while (parent[root] != root)
                root = parent[root];
            while (parent[x] != root)
            {
                var next = parent[x];
                parent[x] = root;
                x = next;
            }
            return root;
        }
        void Node((byte, string) x) => parent.TryAdd(x, x);

        var splitSet = split.ToHashSet();
        Node(anchor);
        foreach (var item in items)
        {
            foreach (var id in item.Identifiers)
                Node(id);
            if (item.Identifiers.Any(splitSet.Contains))
                continue;
            for (int i = 1; i < item.Identifiers.Count; i++)
            {
                var a = Find(item.Identifiers[0]);
                var b = Find(item.Identifiers[i]);
                if (a != b)
                    parent[a] = b;
            }
        }
        foreach (var id in splitSet)
            Node(id);
        var anchorRoot = Find(anchor);
        var kept = new HashSet<(byte, string)>();
        var rest = new HashSet<(byte, string)>();
        foreach (var node in parent.Keys.ToList())
            (Find(node) == anchorRoot ? kept : rest).Add(node);

        var keptItems = new List<HistoryItem>();
        var splitItems = new List<HistoryItem>();
        foreach (var item in items)
        {
            if (item.Identifiers.Any(kept.Contains))
                keptItems.Add(item with { Identifiers = [.. item.Identifiers.Where(kept.Contains)] });
            else
                splitItems.Add(item);
        }
        return (keptItems, splitItems, kept, rest);
    }
}
