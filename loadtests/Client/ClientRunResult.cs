using HdrHistogram;

namespace Cdp.LoadTests.Client;

/// <summary>Counts and the merged latency histogram (microseconds) of one measured run.</summary>
internal sealed record ClientRunResult(TimeSpan Elapsed, long Ok, long NotFound, long Errors, LongHistogram Latency)
{
    public long Requests => Ok + NotFound + Errors;

    public double Throughput => Requests / Elapsed.TotalSeconds;
}
