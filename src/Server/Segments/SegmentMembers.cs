namespace Cdp.Server.Segments;

/// <summary>
/// The members of one segment as a bitmap over master ids, which are dense and only grow. The bitmap
/// is cut into 4,096-id chunks allocated on first use, so a small segment costs a few 512-byte chunks
/// and a large one an eighth of a byte per profile. Bits change with interlocked operations: writes
/// to different profiles run in parallel, and a profile's own changes are ordered by its stripe lock,
/// so the count moves exactly once per real entry or exit.
/// </summary>
public sealed class SegmentMembers
{
    const int ChunkShift = 12;
    const int ChunkBits = 1 << ChunkShift;
    const int WordsPerChunk = ChunkBits / 64;
    ulong[]?[] chunks = new ulong[16][];
    readonly Lock growGate = new();
    long count;

    /// <summary>Exact number of members.</summary>
    public long Count => Volatile.Read(ref count);

    /// <summary>Bytes held by the bitmap's chunks.</summary>
    public long Bytes
    {
        get
        {
            long n = 0;
            foreach (var c in Volatile.Read(ref chunks))
                if (c is not null)
                    n += WordsPerChunk * 8;
            return n;
        }
    }

    /// <summary>Adds a member; false when it already was one.</summary>
    public bool Add(ulong id)
    {
        ref ulong word = ref Word(id, create: true);
        ulong bit = 1UL << (int)(id & 63);
        if ((Interlocked.Or(ref word, bit) & bit) != 0)
            return false;
        Interlocked.Increment(ref count);
        return true;
    }

    /// <summary>Removes a member; false when it was none.</summary>
    public bool Remove(ulong id)
    {
        ulong chunk = id >> ChunkShift;
        var all = Volatile.Read(ref chunks);
        if (chunk >= (ulong)all.Length || all[chunk] is not { } c)
            return false;
        ulong bit = 1UL << (int)(id & 63);
        if ((Interlocked.And(ref c[(id & (ChunkBits - 1)) >> 6], ~bit) & bit) == 0)
            return false;
        Interlocked.Decrement(ref count);
        return true;
    }

    /// <summary>Whether <paramref name="id"/> is a member.</summary>
    public bool Contains(ulong id)
    {
        ulong chunk = id >> ChunkShift;
        var all = Volatile.Read(ref chunks);
        if (chunk >= (ulong)all.Length || all[chunk] is not { } c)
            return false;
        return (Volatile.Read(ref c[(id & (ChunkBits - 1)) >> 6]) & (1UL << (int)(id & 63))) != 0;
    }

    /// <summary>
    /// Fills <paramref name="page"/> with members above <paramref name="after"/> in ascending order
    /// and returns how many it wrote. A cursor of the last id returned pages through the whole set;
    /// members that enter or leave meanwhile appear or not, but no member present throughout is skipped.
    /// </summary>
    public int Page(ulong after, Span<ulong> page)
    {
        var all = Volatile.Read(ref chunks);
        int n = 0;
        ulong start = after == ulong.MaxValue ? ulong.MaxValue : after + 1;
        for (ulong chunk = start >> ChunkShift; chunk < (ulong)all.Length && n < page.Length; chunk++)
        {
            if (all[chunk] is not { } c)
                continue;
            int firstWord = chunk == start >> ChunkShift ? (int)((start & (ChunkBits - 1)) >> 6) : 0;
            for (int w = firstWord; w < WordsPerChunk && n < page.Length; w++)
            {
                ulong bits = Volatile.Read(ref c[w]);
                ulong baseId = (chunk << ChunkShift) + (ulong)(w * 64);
                if (baseId < start && baseId + 64 > start)
                    bits &= ~0UL << (int)(start - baseId);
                while (bits != 0 && n < page.Length)
                {
                    int b = System.Numerics.BitOperations.TrailingZeroCount(bits);
                    page[n++] = baseId + (ulong)b;
                    bits &= bits - 1;
                }
            }
        }
        return n;
    }

    ref ulong Word(ulong id, bool create)
    {
        ulong chunk = id >> ChunkShift;
        var all = Volatile.Read(ref chunks);
        if (chunk >= (ulong)all.Length)
        {
            lock (growGate)
            {
                all = chunks;
                if (chunk >= (ulong)all.Length)
                {
                    var grown = new ulong[]?[Math.Max((long)chunk + 1, all.Length * 2L)];
                    Array.Copy(all, grown, all.Length);
                    Volatile.Write(ref chunks, grown);
                    all = grown;
                }
            }
        }
        var c = all[chunk];
        if (c is null)
        {
            // Chunks may be installed while the array is being grown: install under the same gate.
            lock (growGate)
            {
                all = chunks;
                c = all[chunk] ??= new ulong[WordsPerChunk];
            }
        }
        return ref c[(id & (ChunkBits - 1)) >> 6];
    }
}
