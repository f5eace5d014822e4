using System.Diagnostics;

namespace Cdp.LoadTests.Driver;

/// <summary>
/// When a run measures, in <see cref="Stopwatch"/> ticks. Operations sent in [<see cref="From"/>, <see cref="Until"/>)
/// are measured, all of them to their reply (none is cut off at the end); earlier ones are warmup. Nothing is sent
/// from <see cref="Until"/> on, or once a connection has sent its <see cref="RequestsPerConnection"/>.
/// </summary>
internal sealed record MeasurementWindow(long From, long Until, long? RequestsPerConnection)
{
    public static MeasurementWindow StartingNow(TimeSpan warmup, TimeSpan duration, long? requestsPerConnection)
    {
        long now = Stopwatch.GetTimestamp();
        long from = now + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        return new MeasurementWindow(from, from + (long)(duration.TotalSeconds * Stopwatch.Frequency), requestsPerConnection);
    }
}
