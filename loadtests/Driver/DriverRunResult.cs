using HdrHistogram;

namespace Cdp.LoadTests.Driver;

/// <summary>One run of one target: all connections merged.</summary>
internal sealed record DriverRunResult(TimeSpan Elapsed, long Ok, long NotFound, long Errors, LongHistogram Latency, IReadOnlyList<Exception> Failures)
{
    public long Operations => Ok + NotFound + Errors;

    public double Throughput => Elapsed > TimeSpan.Zero ? Operations / Elapsed.TotalSeconds : 0;
}
