namespace Cdp.Server.Matching;

/// <summary>
/// In-memory index of the spellings (variants) each profile has been written with, bucketed by the
/// model's blocking keys, so that a search scores only the profiles sharing a key with the record.
/// </summary>
/// <remarks>
/// Thread-safe: searches run in parallel under a shared lock; <see cref="Add"/>,
/// <see cref="MergeInto"/> and <see cref="Remove"/> take it exclusively and are short (a few
/// dictionary operations per blocking key). Each call sees the index either before or after any
/// other call, never half-way. A search and the add that follows it are not one atomic step:
/// two concurrent writes of the same new person may each find nothing, so the caller must
/// serialise search-then-add where that matters.
/// </remarks>
public sealed class CandidateIndex
{
    sealed class Block
    {
        // null once the block outgrew the cap: it no longer narrows a search, so it is not kept.
        public List<ulong>? Profiles = [];
    }

    readonly struct Scored(ulong profileId, double score, int variant)
    {
        public readonly ulong ProfileId = profileId;
        public readonly double Score = score;
        public readonly int Variant = variant;
    }

    readonly Dictionary<ulong, List<MatchRecord>> profiles = [];
    readonly Dictionary<ulong, Block> blocks = [];
    readonly ReaderWriterLockSlim gate = new(LockRecursionPolicy.NoRecursion);

    [ThreadStatic] static HashSet<ulong>? seenScratch;
    [ThreadStatic] static List<Scored>? scoredScratch;

    readonly bool[] crossedRules;

    /// <summary>An empty index for records of <paramref name="model"/>.</summary>
    public CandidateIndex(MatchModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        crossedRules = model.Blocking.Select(r => r.ReadsSwappable(model)).ToArray();
    }

    /// <summary>The model whose records and blocking rules the index uses.</summary>
    public MatchModel Model { get; }

    /// <summary>Profiles with at least one variant.</summary>
    public int ProfileCount
    {
        get
        {
            gate.EnterReadLock();
            try { return profiles.Count; }
            finally { gate.ExitReadLock(); }
        }
    }

    /// <summary>The variants kept for a profile (a copy), empty for an unknown profile.</summary>
    public IReadOnlyList<MatchRecord> Variants(ulong profileId)
    {
        gate.EnterReadLock();
        try { return profiles.TryGetValue(profileId, out var v) ? v.ToArray() : []; }
        finally { gate.ExitReadLock(); }
    }

    /// <summary>
    /// Records that the profile has been written with this record. A spelling the profile already
    /// has, an empty record, or one beyond <see cref="MatchModel.MaxVariantsPerProfile"/> is not kept.
    /// </summary>
    /// <returns>True if the record was kept as a new variant.</returns>
    public bool Add(ulong profileId, MatchRecord record)
    {
        CheckModel(record);
        if (record.IsEmpty)
            return false;
        gate.EnterWriteLock();
        try
        {
            return AddVariant(profileId, record);
        }
        finally { gate.ExitWriteLock(); }
    }

    /// <summary>
    /// The merged profile's variants now belong to the survivor (up to the variant cap) and the merged
    /// profile leaves the index. No-op when the ids are equal or the merged profile is unknown.
    /// </summary>
    public void MergeInto(ulong survivor, ulong merged)
    {
        if (survivor == merged)
            return;
        gate.EnterWriteLock();
        try
        {
            if (!profiles.Remove(merged, out var variants))
                return;
            foreach (var v in variants)
            {
                RemoveFromBlocks(merged, v);
                AddVariant(survivor, v);
            }
        }
        finally { gate.ExitWriteLock(); }
    }

    /// <summary>Removes a profile and all its variants.</summary>
    /// <returns>False if the profile was not in the index.</returns>
    public bool Remove(ulong profileId)
    {
        gate.EnterWriteLock();
        try
        {
            if (!profiles.Remove(profileId, out var variants))
                return false;
            foreach (var v in variants)
                RemoveFromBlocks(profileId, v);
            return true;
        }
        finally { gate.ExitWriteLock(); }
    }

    /// <summary>
    /// Profiles scoring at least <see cref="MatchModel.CandidateScore"/> against the record, best
    /// first, at most <paramref name="max"/>; <paramref name="exclude"/> (the writing profile itself) is skipped.
    /// </summary>
    public IReadOnlyList<MatchCandidate> Find(MatchRecord record, ulong exclude, int max) =>
        Find(record, exclude, max, Model.CandidateScore, out _);

    /// <summary>
    /// Profiles scoring at least <paramref name="minScore"/>, best first; <paramref name="compared"/>
    /// is how many profiles were scored (the size of the blocked candidate set).
    /// </summary>
    public IReadOnlyList<MatchCandidate> Find(MatchRecord record, ulong exclude, int max, double minScore, out int compared)
    {
        CheckModel(record);
        ArgumentOutOfRangeException.ThrowIfNegative(max);
        compared = 0;
        if (record.IsEmpty || max == 0)
            return [];
        var rules = Model.Blocking;
        Span<ulong> keys = stackalloc ulong[rules.Count * 2];
        int keyCount = Keys(record, keys);
        // Stored records keep only their straight keys; searching with the crossed ones as well finds
        // a profile whose given name and surname (or address lines) were entered the other way round.
        for (int r = 0; r < rules.Count; r++)
        {
            if (crossedRules[r] && rules[r].TryKey(record, r, out ulong key, crossed: true) && !keys[..keyCount].Contains(key))
                keys[keyCount++] = key;
        }
        var seen = seenScratch ??= [];
        var scored = scoredScratch ??= [];
        seen.Clear();
        scored.Clear();

        gate.EnterReadLock();
        try
        {
            for (int k = 0; k < keyCount; k++)
            {
                if (!blocks.TryGetValue(keys[k], out var block) || block.Profiles is not { } members)
                    continue;
                foreach (ulong id in members)
                {
                    if (id == exclude || !seen.Add(id))
                        continue;
                    compared++;
                    var variants = profiles[id];
                    double best = double.NegativeInfinity;
                    int bestVariant = 0;
                    for (int v = 0; v < variants.Count; v++)
                    {
                        double s = Model.Score(record, variants[v]);
                        if (s > best)
                        {
                            best = s;
                            bestVariant = v;
                        }
                    }
                    if (best >= minScore)
                        scored.Add(new Scored(id, best, bestVariant));
                }
            }
            if (scored.Count == 0)
                return [];
            // Ties go to the older (lower) id so that repeated runs decide alike.
            scored.Sort(static (x, y) => x.Score != y.Score ? y.Score.CompareTo(x.Score) : x.ProfileId.CompareTo(y.ProfileId));
            int n = Math.Min(max, scored.Count);
            var result = new MatchCandidate[n];
            for (int i = 0; i < n; i++)
            {
                var s = scored[i];
                var evidence = new List<MatchEvidence>(Model.Attributes.Count);
                Model.Score(record, profiles[s.ProfileId][s.Variant], evidence);
                result[i] = new MatchCandidate(s.ProfileId, s.Score, evidence);
            }
            return result;
        }
        finally
        {
            gate.ExitReadLock();
            seen.Clear();
            scored.Clear();
        }
    }

    /// <summary>The blocking keys of a record, one per rule it has every part of.</summary>
    int Keys(MatchRecord record, Span<ulong> keys)
    {
        int n = 0;
        var rules = Model.Blocking;
        for (int r = 0; r < rules.Count; r++)
        {
            if (rules[r].TryKey(record, r, out ulong key))
                keys[n++] = key;
        }
        return n;
    }

    bool AddVariant(ulong profileId, MatchRecord record)
    {
        if (!profiles.TryGetValue(profileId, out var variants))
            profiles[profileId] = variants = new List<MatchRecord>(1);
        if (variants.Count >= Model.MaxVariantsPerProfile || variants.Contains(record))
            return false;
        variants.Add(record);
        Span<ulong> keys = stackalloc ulong[Model.Blocking.Count];
        int n = Keys(record, keys);
        for (int k = 0; k < n; k++)
        {
            if (!blocks.TryGetValue(keys[k], out var block))
                blocks[keys[k]] = block = new Block();
            if (block.Profiles is not { } members || members.Contains(profileId))
                continue;
            if (members.Count >= Model.MaxBlockSize)
                block.Profiles = null;
            else
                members.Add(profileId);
        }
        return true;
    }

    void RemoveFromBlocks(ulong profileId, MatchRecord record)
    {
        Span<ulong> keys = stackalloc ulong[Model.Blocking.Count];
        int n = Keys(record, keys);
        for (int k = 0; k < n; k++)
        {
            if (!blocks.TryGetValue(keys[k], out var block) || block.Profiles is not { } members)
                continue;
            // Two variants of one profile often share a key; the first removal already took it out.
            if (members.Remove(profileId) && members.Count == 0)
                blocks.Remove(keys[k]);
        }
    }

    void CheckModel(MatchRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!ReferenceEquals(record.Model, Model))
            throw new ArgumentException("The record was read with another match model than the index's.", nameof(record));
    }
}
