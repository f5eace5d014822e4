namespace Cdp.LoadTests.Workload;

/// <summary>
/// One connection's requests, drawn before the run so that sampling costs nothing in the measured loop and every
/// target receives exactly the same requests in the same order. The loop cycles through the sequence.
/// </summary>
internal sealed class RequestSequence
{
    // Each entry packs a key and its operation: key << 1 | (track ? 1 : 0).
    private readonly int[] entries;

    private RequestSequence(int[] entries) => this.entries = entries;

    public int Length => entries.Length;

    public int Key(int position) => entries[position] >> 1;

    public Operation Operation(int position) => (Operation)(entries[position] & 1);

    /// <summary>Builds one sequence per connection from one seed; the same arguments always give the same sequences.</summary>
    /// <param name="connections">Number of connections (sequences).</param>
    /// <param name="length">Entries per sequence.</param>
    /// <param name="keys">Number of profiles; keys are 0..keys-1.</param>
    /// <param name="distribution">How keys are drawn.</param>
    /// <param name="zipfTheta">Skew for <see cref="KeyDistribution.Zipf"/>.</param>
    /// <param name="trackShare">Share of <see cref="Operation.Track"/> requests (0 to 1).</param>
    /// <param name="seed">Seed of every random choice.</param>
    public static RequestSequence[] Build(int connections, int length, int keys, KeyDistribution distribution, double zipfTheta, double trackShare, int seed)
    {
        if (keys > int.MaxValue >> 1)
            throw new ArgumentOutOfRangeException(nameof(keys), keys, "Too many keys to pack with an operation bit.");
        ZipfianSampler? zipf = distribution == KeyDistribution.Zipf ? new ZipfianSampler(keys, zipfTheta) : null;
        // Zipf ranks go through a fixed random permutation, so the hot profiles are spread over the key space rather
        // than being the first ones loaded (which would sit together at the start of Cdp's log).
        int[]? rankToKey = zipf is null ? null : Permutation(keys, new Random(seed));

        var sequences = new RequestSequence[connections];
        for (int c = 0; c < connections; c++)
        {
            // Not HashCode.Combine: its hashes are randomised per process, and these sequences must repeat across runs.
            var random = new Random(unchecked(seed * 7919 + c + 1));
            var entries = new int[length];
            for (int i = 0; i < length; i++)
            {
                int key = zipf is null ? random.Next(keys) : rankToKey![zipf.Next(random)];
                // Draw the operation even when the share is 0 or 1, so the keys do not depend on the scenario.
                bool track = random.NextDouble() < trackShare;
                entries[i] = key << 1 | (track ? 1 : 0);
            }
            sequences[c] = new RequestSequence(entries);
        }
        return sequences;
    }

    private static int[] Permutation(int count, Random random)
    {
        var items = new int[count];
        for (int i = 0; i < count; i++)
            items[i] = i;
        random.Shuffle(items);
        return items;
    }
}
