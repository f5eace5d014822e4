using Cdp.LoadTests.Protocols;

namespace Cdp.LoadTests.Driver;

/// <summary>
/// The operations one connection has sent and not yet fully answered, oldest first. Every protocol here answers in
/// request order, so the oldest entry owns the next reply; an entry leaves once all its replies are in.
/// </summary>
internal sealed class InFlightQueue(int capacity)
{
    private readonly long[] sentAt = new long[capacity];
    private readonly byte[] repliesLeft = new byte[capacity];
    private readonly ReplyStatus[] worst = new ReplyStatus[capacity];
    private readonly bool[] measured = new bool[capacity];
    private int head;
    private int unstamped;

    public int Count { get; private set; }

    public int Capacity => capacity;

    /// <summary>Adds an operation whose send time is set by the next <see cref="StampSendTime"/>.</summary>
    public void Enqueue(int replies, bool isMeasured)
    {
        if (Count == capacity)
            throw new InvalidOperationException("More operations in flight than the pipeline depth.");
        int tail = (head + Count) % capacity;
        repliesLeft[tail] = (byte)replies;
        worst[tail] = ReplyStatus.Ok;
        measured[tail] = isMeasured;
        Count++;
        unstamped++;
    }

    /// <summary>Sets the send time of every operation enqueued since the last call (they leave in one write).</summary>
    public void StampSendTime(long timestamp)
    {
        for (int i = Count - unstamped; i < Count; i++)
            sentAt[(head + i) % capacity] = timestamp;
        unstamped = 0;
    }

    /// <summary>Counts one reply against the oldest operation.</summary>
    /// <returns>True when that reply was the operation's last: it has left the queue and the out values describe it.</returns>
    /// <exception cref="InvalidDataException">A reply arrived with nothing in flight.</exception>
    public bool CompleteReply(ReplyStatus status, out long sentTimestamp, out ReplyStatus outcome, out bool isMeasured)
    {
        if (Count == 0)
            throw new InvalidDataException("A reply arrived with no request in flight.");
        // Statuses are ordered Ok < NotFound < Error, so the worst reply decides the operation's outcome.
        if (status > worst[head])
            worst[head] = status;
        sentTimestamp = sentAt[head];
        outcome = worst[head];
        isMeasured = measured[head];
        if (--repliesLeft[head] > 0)
            return false;
        head = (head + 1) % capacity;
        Count--;
        return true;
    }

    /// <summary>How many queued operations were sent inside the measured window (those still unanswered when a connection fails).</summary>
    public int CountMeasured()
    {
        int n = 0;
        for (int i = 0; i < Count; i++)
            n += measured[(head + i) % capacity] ? 1 : 0;
        return n;
    }
}
