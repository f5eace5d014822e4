using System.Threading.Channels;

namespace Cdp.Server.Segments;

/// <summary>
/// Hands membership changes to connected subscribers as they happen. Publishing costs one volatile
/// read when nobody subscribes. Each subscriber has a bounded queue; one that falls more than its
/// capacity behind is cut off (<see cref="SegmentSubscription.Overflowed"/>) rather than silently
/// skipping changes, so a client never holds a membership picture with a hole in it.
/// </summary>
public sealed class SegmentFeed
{
    SegmentSubscription[] subscribers = [];
    readonly Lock gate = new();

    /// <summary>Default queue length of a subscription.</summary>
    public const int DefaultCapacity = 10_000;

    /// <summary>Whether anyone listens.</summary>
    public bool HasSubscribers => Volatile.Read(ref subscribers).Length > 0;

    /// <summary>A new subscription with no segments chosen yet; dispose it to stop.</summary>
    public SegmentSubscription Subscribe(int capacity = DefaultCapacity)
    {
        var s = new SegmentSubscription(this, capacity);
        lock (gate)
            subscribers = [.. subscribers, s];
        return s;
    }

    internal void Remove(SegmentSubscription s)
    {
        lock (gate)
            subscribers = Array.FindAll(subscribers, x => !ReferenceEquals(x, s));
    }

    /// <summary>Offers a change to every subscriber that chose its segment.</summary>
    public void Publish(in SegmentChange change)
    {
        var current = Volatile.Read(ref subscribers);
        foreach (var s in current)
            s.Offer(change);
    }
}

/// <summary>
/// A subscriber's view of <see cref="SegmentFeed"/>: the segments it chose and a queue of their
/// changes, read through <see cref="Reader"/>. The queue completes when the subscription is disposed
/// or overflows.
/// </summary>
public sealed class SegmentSubscription : IDisposable
{
    readonly SegmentFeed feed;
    readonly Channel<SegmentChange> queue;
    volatile string[] segments = [];
    readonly Lock gate = new();
    int closed;

    internal SegmentSubscription(SegmentFeed feed, int capacity)
    {
        this.feed = feed;
        queue = Channel.CreateBounded<SegmentChange>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = false,
        });
    }

    /// <summary>Changes of the chosen segments, in the order they were made per profile.</summary>
    public ChannelReader<SegmentChange> Reader => queue.Reader;

    /// <summary>True once the subscription ended (disposed or overflowed).</summary>
    public bool Closed => Volatile.Read(ref closed) != 0;

    /// <summary>True once the subscriber fell too far behind; its queue then ends.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>The segments chosen.</summary>
    public IReadOnlyList<string> Segments => segments;

    /// <summary>
    /// Most segments one subscription (one connection) watches: each Subscribe names at most 256, and
    /// without a cap a client repeating it would grow the set, and the check of every change against
    /// it, without end.
    /// </summary>
    public const int MaxSegments = 1024;

    /// <summary>Adds segments to the subscription (names need not exist yet); refused whole when it would pass <see cref="MaxSegments"/>.</summary>
    public void Add(IEnumerable<string> names)
    {
        lock (gate)
        {
            var union = segments.Union(names, StringComparer.Ordinal).ToArray();
            if (union.Length > MaxSegments)
                throw Cdp.Server.Engine.EngineException.BadRequest(Cdp.Protocol.ErrorCode.TooMany,
                    $"a connection may watch at most {MaxSegments} segments; it watches {segments.Length}. Unsubscribe from some first.", "segments");
            segments = union;
        }
    }

    /// <summary>Removes segments from the subscription.</summary>
    public void Remove(IEnumerable<string> names)
    {
        var set = names.ToHashSet(StringComparer.Ordinal);
        lock (gate)
            segments = [.. segments.Where(s => !set.Contains(s))];
    }

    internal void Offer(in SegmentChange change)
    {
        var chosen = segments;
        if (Array.IndexOf(chosen, change.Segment) < 0 || Volatile.Read(ref closed) != 0)
            return;
        if (!queue.Writer.TryWrite(change))
        {
            Overflowed = true;
            Close();
        }
    }

    void Close()
    {
        if (Interlocked.Exchange(ref closed, 1) != 0)
            return;
        queue.Writer.TryComplete();
        feed.Remove(this);
    }

    /// <summary>Ends the subscription.</summary>
    public void Dispose() => Close();
}
