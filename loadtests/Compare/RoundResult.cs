using Cdp.LoadTests.Driver;

namespace Cdp.LoadTests.Compare;

/// <summary>One target's run in one round; <see cref="Slot"/> is its place in that round's order (1 = first).</summary>
internal sealed record RoundResult(int Round, int Slot, DriverRunResult Run, CpuUsage Cpu);
