using Cdp.LoadTests.Driver;
using HdrHistogram;

namespace Cdp.LoadTests.Compare;

/// <summary>
/// Everything measured for one target in one scenario, merged over the rounds: latencies go into one histogram,
/// throughput is all operations over all measured time, CPU shares are CPU time over wall time.
/// </summary>
internal sealed class TargetMeasurement(Target target, int? serverPid)
{
    private readonly List<RoundResult> rounds = [];
    private TimeSpan cpuWall;
    // Null once any round could not read the server's CPU time: a partial sum would understate it.
    private TimeSpan? serverCpu = TimeSpan.Zero;
    private TimeSpan harnessCpu;

    public Target Target => target;

    public int? ServerPid => serverPid;

    public IReadOnlyList<RoundResult> Rounds => rounds;

    public LongHistogram Latency { get; } = new(ConnectionResult.HighestTrackableMicros, 3);

    public ErrorLog Failures { get; } = new();

    public long Ok { get; private set; }

    public long NotFound { get; private set; }

    public long Errors { get; private set; }

    public TimeSpan Elapsed { get; private set; }

    public void Add(RoundResult round)
    {
        rounds.Add(round);
        DriverRunResult run = round.Run;
        Latency.Add(run.Latency);
        Ok += run.Ok;
        NotFound += run.NotFound;
        Errors += run.Errors;
        Elapsed += run.Elapsed;
        foreach (Exception failure in run.Failures)
            Failures.Add(failure);
        cpuWall += round.Cpu.Wall;
        harnessCpu += round.Cpu.Harness;
        serverCpu = serverCpu is { } sum && round.Cpu.Server is { } used ? sum + used : null;
    }

    public long Operations => Ok + NotFound + Errors;

    public double Throughput => Elapsed > TimeSpan.Zero ? Operations / Elapsed.TotalSeconds : 0;

    /// <summary>(max - min) / mean of the rounds' throughputs: how much the rounds disagree.</summary>
    public double? RoundSpread
    {
        get
        {
            if (rounds.Count < 2)
                return null;
            var values = rounds.Select(r => r.Run.Throughput).ToArray();
            double mean = values.Average();
            return mean > 0 ? (values.Max() - values.Min()) / mean : null;
        }
    }

    /// <summary>Server CPU over wall time while measuring: 1.0 is one core busy.</summary>
    public double? ServerCpuShare => serverCpu is { } used && cpuWall > TimeSpan.Zero ? used / cpuWall : null;

    /// <summary>Server CPU time per operation, in microseconds.</summary>
    public double? ServerCpuMicrosPerOperation => serverCpu is { } used && Operations > 0 ? used.TotalMicroseconds / Operations : null;

    /// <summary>This harness's CPU over wall time while measuring: 1.0 is one core busy.</summary>
    public double? HarnessCpuShare => cpuWall > TimeSpan.Zero ? harnessCpu / cpuWall : null;
}
