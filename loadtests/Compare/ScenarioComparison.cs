using Cdp.LoadTests.Workload;

namespace Cdp.LoadTests.Compare;

/// <summary>The measurements of every target in one scenario, and their ratios to the baseline target.</summary>
internal sealed class ScenarioComparison(Scenario scenario, IReadOnlyList<TargetMeasurement> targets, string baseline)
{
    public Scenario Scenario => scenario;

    public IReadOnlyList<TargetMeasurement> Targets => targets;

    public string Baseline => baseline;

    private TargetMeasurement? BaselineMeasurement => targets.FirstOrDefault(t => t.Target.Name == baseline);

    /// <summary>Throughput over the baseline's throughput (above 1: faster than the baseline).</summary>
    public double? ThroughputRatio(TargetMeasurement target)
        => BaselineMeasurement is { Throughput: > 0 } b ? target.Throughput / b.Throughput : null;

    /// <summary>p99 latency over the baseline's p99 (above 1: slower tail than the baseline).</summary>
    public double? P99Ratio(TargetMeasurement target)
        => BaselineMeasurement is { } b && b.Latency.TotalCount > 0 && target.Latency.TotalCount > 0
            ? (double)target.Latency.GetValueAtPercentile(99) / b.Latency.GetValueAtPercentile(99)
            : null;
}
