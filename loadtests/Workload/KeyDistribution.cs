namespace Cdp.LoadTests.Workload;

/// <summary>How profile keys are drawn for each request.</summary>
internal enum KeyDistribution
{
    /// <summary>Every profile equally likely.</summary>
    Uniform,
    /// <summary>A few hot profiles take most requests (YCSB-style Zipfian, skew set by theta).</summary>
    Zipf,
}
