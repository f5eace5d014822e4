using HdrHistogram;

namespace Cdp.LoadTests.Driver;

/// <summary>What one connection measured: latencies of answered operations (microseconds) and counts by outcome.</summary>
internal sealed class ConnectionResult
{
    /// <summary>One minute, in microseconds: anything slower is recorded as one minute.</summary>
    public const long HighestTrackableMicros = 60_000_000;

    public LongHistogram Latency { get; } = new(HighestTrackableMicros, 3);

    public long Ok { get; set; }

    public long NotFound { get; set; }

    /// <summary>Measured operations that failed: an error reply, or no reply because the connection failed.</summary>
    public long Errors { get; set; }

    /// <summary>When the last measured operation completed (Stopwatch ticks), 0 if none did.</summary>
    public long LastCompletion { get; set; }

    /// <summary>Why the connection stopped early, if it did.</summary>
    public Exception? Failure { get; set; }
}
