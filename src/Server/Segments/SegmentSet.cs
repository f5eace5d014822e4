using Cdp.Server.Rules;

namespace Cdp.Server.Segments;

/// <summary>
/// An immutable snapshot of the defined segments, swapped whole when one is added, changed or
/// deleted, so a write sees one consistent set without a lock. Segments are in dependency order
/// (a segment after every segment it reads through <c>in_segment</c>) and addressed by that rank;
/// the dependency index maps each field to the ranks of the rules that read it, so a write touches
/// only the rules whose inputs it changed, however many segments exist.
/// </summary>
public sealed class SegmentSet
{
    static readonly int[] None = [];
    readonly Dictionary<int, int[]> byKey;
    readonly int[][] dependents;

    /// <summary>The empty set.</summary>
    public static SegmentSet Empty { get; } = new([]);

    /// <summary>Builds the set.</summary>
    public SegmentSet(IReadOnlyList<Segment> segments)
    {
        All = Order(segments);
        var rankOfId = new Dictionary<uint, int>();
        for (int i = 0; i < All.Length; i++)
            rankOfId[All[i].Id] = i;
        RankOfId = rankOfId;
        ByName = All.ToDictionary(s => s.Name, StringComparer.Ordinal);
        var keys = new Dictionary<int, List<int>>();
        var deps = new List<int>[All.Length];
        var timed = new List<int>();
        var empty = new List<int>();
        for (int i = 0; i < All.Length; i++)
        {
            var s = All[i];
            foreach (var k in s.Compiled.DependencyKeys)
            {
                if (!keys.TryGetValue(k, out var list))
                    keys[k] = list = [];
                list.Add(i);
            }
            foreach (var read in s.Compiled.SegmentsRead)
                if (rankOfId.TryGetValue((uint)read, out int r))
                    (deps[r] ??= []).Add(i);
            if (s.Compiled.TimeDependent)
                timed.Add(i);
            if (s.TrueWhenEmpty)
                empty.Add(i);
        }
        byKey = keys.ToDictionary(p => p.Key, p => p.Value.ToArray());
        dependents = [.. deps.Select(d => d?.ToArray() ?? None)];
        TimeDependent = [.. timed];
        TrueWhenEmpty = [.. empty];
    }

    /// <summary>Segments in dependency order.</summary>
    public Segment[] All { get; }
    /// <summary>By name.</summary>
    public IReadOnlyDictionary<string, Segment> ByName { get; }
    /// <summary>Rank of each segment id.</summary>
    public IReadOnlyDictionary<uint, int> RankOfId { get; }
    /// <summary>Ranks of segments whose truth can change with time alone.</summary>
    public int[] TimeDependent { get; }
    /// <summary>Ranks of segments that hold for a profile with no data (<c>not exists(...)</c>): a new profile is evaluated against them.</summary>
    public int[] TrueWhenEmpty { get; }

    /// <summary>Ranks of the segments reading dependency key <paramref name="key"/>.</summary>
    public int[] Reading(int key) => byKey.TryGetValue(key, out var r) ? r : None;

    /// <summary>Ranks of the segments reading segment <paramref name="rank"/> through <c>in_segment</c>.</summary>
    public int[] DependentsOf(int rank) => dependents[rank];

    /// <summary>Whether some segment reads key <paramref name="key"/>.</summary>
    public bool AnyReads(int key) => byKey.ContainsKey(key);

    static Segment[] Order(IReadOnlyList<Segment> segments)
    {
        // Depth-first over in_segment references; the catalog refuses cycles before a set is built.
        var byId = segments.ToDictionary(s => s.Id);
        var done = new HashSet<uint>();
        var ordered = new List<Segment>(segments.Count);
        void Visit(Segment s, int depth)
        {
            if (!done.Add(s.Id))
                return;
            if (depth > segments.Count)
                throw new InvalidOperationException("segment references form a cycle");
            foreach (var read in s.Compiled.SegmentsRead)
                if (byId.TryGetValue((uint)read, out var d))
                    Visit(d, depth + 1);
            ordered.Add(s);
        }
        foreach (var s in segments.OrderBy(s => s.Id))
            Visit(s, 0);
        return [.. ordered];
    }
}
