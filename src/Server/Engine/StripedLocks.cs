namespace Cdp.Server.Engine;

/// <summary>
/// A fixed set of monitors that serialise writes touching the same identifiers, dedupe key or
/// profile. Keys hash to stripes; a write takes its stripes in ascending order, so two writes can
/// never wait on each other in a cycle. Held only while a write resolves and applies (microseconds,
/// no awaits), never while it waits for the journal.
/// </summary>
public sealed class StripedLocks
{
    readonly object[] stripes;
    readonly int mask;

    /// <summary>Creates <paramref name="count"/> stripes (a power of two).</summary>
    public StripedLocks(int count = 4096)
    {
        if (count <= 0 || (count & (count - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(count), "must be a power of two");
        stripes = new object[count];
        for (int i = 0; i < count; i++)
            stripes[i] = new object();
        mask = count - 1;
    }

    /// <summary>The stripe of a key.</summary>
    public int StripeOf(ReadOnlySpan<byte> key)
    {
        var hash = new HashCode();
        hash.AddBytes(key);
        return hash.ToHashCode() & mask;
    }

    /// <summary>Takes the given stripes (sorted, distinct) in order.</summary>
    public void Enter(List<int> sortedStripes)
    {
        foreach (var s in sortedStripes)
            Monitor.Enter(stripes[s]);
    }

    /// <summary>Releases the stripes taken by <see cref="Enter"/>.</summary>
    public void Exit(List<int> sortedStripes)
    {
        for (int i = sortedStripes.Count - 1; i >= 0; i--)
            Monitor.Exit(stripes[sortedStripes[i]]);
    }

    /// <summary>
    /// Takes one more stripe without waiting, on top of stripes already held. Never waiting is what
    /// makes it safe outside the sorted order: it cannot deadlock. False when another thread holds it.
    /// </summary>
    public bool TryEnter(int stripe) => Monitor.TryEnter(stripes[stripe]);

    /// <summary>
    /// Takes every stripe in order and lets them go: returns once every write that held a stripe
    /// when it was called has finished. A few thousand uncontended monitors: tens of microseconds.
    /// </summary>
    public void Barrier()
    {
        EnterAll();
        ExitAll();
    }

    /// <summary>Takes every stripe, in order, until <see cref="ExitAll"/> on the same thread: no write runs in between.</summary>
    public void EnterAll()
    {
        int taken = 0;
        try
        {
            for (; taken < stripes.Length; taken++)
                Monitor.Enter(stripes[taken]);
        }
        catch
        {
            for (int i = taken - 1; i >= 0; i--)
                Monitor.Exit(stripes[i]);
            throw;
        }
    }

    /// <summary>Releases what <see cref="EnterAll"/> took.</summary>
    public void ExitAll()
    {
        for (int i = stripes.Length - 1; i >= 0; i--)
            Monitor.Exit(stripes[i]);
    }

    /// <summary>Takes one stripe, waiting; only for callers that hold no other stripe.</summary>
    public void EnterOne(int stripe) => Monitor.Enter(stripes[stripe]);

    /// <summary>Releases a stripe taken with <see cref="TryEnter"/> or <see cref="EnterOne"/>.</summary>
    public void Exit(int stripe) => Monitor.Exit(stripes[stripe]);
}
