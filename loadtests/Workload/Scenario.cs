namespace Cdp.LoadTests.Workload;

/// <summary>A named mix of operations: the share of requests that are <see cref="Operation.Track"/>, the rest lookups.</summary>
internal sealed record Scenario(string Name, double TrackShare, string Description)
{
    public static readonly Scenario Lookup = new("lookup", 0, "get a ~20-trait profile by e-mail");
    public static readonly Scenario Track = new("track", 1, "record one event on a profile");
    public static readonly Scenario Mixed = new("mixed", 0.1, "90% lookup / 10% track, chosen per request by a seeded RNG");

    public static readonly IReadOnlyList<Scenario> All = [Lookup, Track, Mixed];

    public static Scenario Named(string name) => All.Single(s => s.Name == name);

    public bool Uses(Operation operation) => operation == Operation.Track ? TrackShare > 0 : TrackShare < 1;
}
