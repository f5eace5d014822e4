using Microsoft.Extensions.Logging;

namespace Cdp.Server.Segments;

/// <summary>
/// Wakes profiles up at the moment a time-dependent rule can change its truth (a window moving, a
/// <c>days_since</c> threshold passing), with no event needed. A priority queue keyed by each
/// profile's next check time and one timer set for the earliest; profiles without time-dependent
/// rules are never in it. A check that was moved later by a write finds a later time stored and is
/// skipped (the later one is queued too). The queue is rebuilt from the stored check times at start.
/// </summary>
public sealed class TransitionScheduler : IDisposable
{
    /// <summary>Longest the timer sleeps in one go; it re-arms after.</summary>
    static readonly TimeSpan MaxSleep = TimeSpan.FromHours(1);

    readonly TimeProvider time;
    readonly Action<ulong, long> check;
    readonly ILogger logger;
    readonly PriorityQueue<ulong, long> queue = new();
    readonly Lock gate = new();
    // Not a lock: a provider may call back on the same thread, and a re-entered run would share the session.
    int running;
    readonly object timerGate = new();
    bool fireAgain;
    ITimer? timer;
    long armedFor = long.MaxValue;
    bool started;
    bool disposed;

    /// <summary>Creates the scheduler; <paramref name="check"/> re-evaluates one profile (master id, due time).</summary>
    public TransitionScheduler(TimeProvider time, Action<ulong, long> check, ILogger logger)
    {
        this.time = time;
        this.check = check;
        this.logger = logger;
    }

    /// <summary>Checks waiting (including ones a later write made obsolete).</summary>
    public int Pending
    {
        get
        {
            lock (gate)
                return queue.Count;
        }
    }

    /// <summary>Asks for profile <paramref name="master"/> to be checked at <paramref name="at"/> (Unix ms).</summary>
    public void Schedule(ulong master, long at)
    {
        bool arm;
        lock (gate)
        {
            queue.Enqueue(master, at);
            arm = started && at < armedFor;
            if (arm)
                armedFor = at;
        }
        if (arm)
            SetTimer();
    }

    /// <summary>Starts firing (after recovery has queued the stored checks).</summary>
    public void Start()
    {
        lock (gate)
        {
            started = true;
            armedFor = queue.TryPeek(out _, out long at) ? at : long.MaxValue;
        }
        SetTimer();
    }

    // The timer is replaced one at a time, each time reading the latest wanted moment, so a late
    // replacement can never leave it set for an older, later moment. A new one-shot timer rather
    // than Change: a timer changed from inside its own callback is not re-armed by every
    // TimeProvider (the testing one disarms it when the callback returns). Never due at once: a
    // provider may run a zero-delay callback inside CreateTimer, on this thread.
    void SetTimer()
    {
        lock (timerGate)
        {
            long at;
            lock (gate)
            {
                if (disposed || !started)
                    return;
                at = armedFor;
            }
            timer?.Dispose();
            timer = null;
            if (at == long.MaxValue)
                return;
            long now = time.GetUtcNow().ToUnixTimeMilliseconds();
            var delay = TimeSpan.FromMilliseconds(Math.Max(1, at - now));
            timer = time.CreateTimer(_ => Fire(), null, delay > MaxSleep ? MaxSleep : delay, Timeout.InfiniteTimeSpan);
        }
    }

    void Fire()
    {
        // One run at a time (the checks share one engine session); a firing that finds a run under
        // way leaves the work to it.
        if (Interlocked.CompareExchange(ref running, 1, 0) != 0)
        {
            Volatile.Write(ref fireAgain, true);
            return;
        }
        try
        {
            do
            {
                Volatile.Write(ref fireAgain, false);
                RunDue();
            }
            while (Volatile.Read(ref fireAgain));
        }
        finally
        {
            Volatile.Write(ref running, 0);
        }
        SetTimer();
    }

    void RunDue()
    {
        while (true)
        {
            ulong master;
            long due;
            lock (gate)
            {
                if (disposed)
                    return;
                long now = time.GetUtcNow().ToUnixTimeMilliseconds();
                if (!queue.TryPeek(out master, out due) || due > now)
                {
                    armedFor = queue.TryPeek(out _, out long next) ? next : long.MaxValue;
                    return;
                }
                queue.Dequeue();
            }
            try
            {
                check(master, due);
            }
            catch (Exception e)
            {
                logger.LogError(e, "Time-based segment check of profile {Master} failed.", master);
            }
        }
    }

    /// <summary>Stops the timer.</summary>
    public void Dispose()
    {
        lock (gate)
            disposed = true;
        lock (timerGate)
            timer?.Dispose();
        // A check under way finishes (it stops at the next profile) before the caller closes its session.
        SpinWait.SpinUntil(() => Volatile.Read(ref running) == 0, TimeSpan.FromSeconds(10));
    }
}
