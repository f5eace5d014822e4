namespace Cdp.Bench;

/// <summary>
/// Marks a benchmark whose operation must allocate nothing in steady state. The test suite
/// (tests/ZeroAllocationTests.cs) runs every marked benchmark and fails if it allocates, so a
/// regression on a hot path breaks CI rather than waiting for someone to read a report.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ZeroAllocationAttribute : Attribute;
