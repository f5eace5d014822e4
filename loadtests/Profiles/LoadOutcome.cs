namespace Cdp.LoadTests.Profiles;

/// <summary>What filling one store took: how many profiles, how long, and how many writes failed.</summary>
internal sealed record LoadOutcome(string Store, int Profiles, TimeSpan Elapsed, long Failed)
{
    public double WritesPerSecond => Profiles / Elapsed.TotalSeconds;

    public override string ToString()
        => $"{Store}: {Profiles:N0} profiles in {Elapsed.TotalSeconds:0.00} s = {WritesPerSecond:N0} writes/s (failed {Failed:N0})";
}
