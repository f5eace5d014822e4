using System.Diagnostics;

namespace Cdp.LoadTests.Compare;

/// <summary>
/// Waits, before a round, until every local server the run compares is idle. A server can keep working
/// after its own round (a checkpoint, a commit callback, a background collection); on a machine whose
/// cores the harness and all servers share, that work would otherwise run inside the next target's
/// measured window and make the ratios unfair to that target.
/// </summary>
internal static class ServerSettle
{
    /// <summary>Length of one sampling window.</summary>
    private static readonly TimeSpan Window = TimeSpan.FromMilliseconds(250);

    /// <summary>A server using less than this share of one core over a window counts as idle.</summary>
    private const double IdleShare = 0.05;

    /// <summary>
    /// Samples the servers' CPU in windows of 250 ms until one window finds every one of them idle, or
    /// <paramref name="limit"/> has passed. Returns how long it waited and, when it gave up, which
    /// servers were still busy (name and share of one core in the last window).
    /// </summary>
    public static async Task<(TimeSpan Waited, string? StillBusy)> WaitAsync(IReadOnlyDictionary<string, ProcessCpuProbe?> servers, TimeSpan limit)
    {
        var start = Stopwatch.GetTimestamp();
        if (limit <= TimeSpan.Zero)
            return (TimeSpan.Zero, null);
        while (true)
        {
            var before = servers.ToDictionary(s => s.Key, s => s.Value?.CpuTime());
            long windowStart = Stopwatch.GetTimestamp();
            await Task.Delay(Window).ConfigureAwait(false);
            TimeSpan wall = Stopwatch.GetElapsedTime(windowStart);
            var busy = new List<string>();
            foreach (var (name, probe) in servers)
            {
                if (probe?.CpuTime() is not { } after || before[name] is not { } first)
                    continue;
                double share = (after - first) / wall;
                if (share >= IdleShare)
                    busy.Add($"{name} {share * 100:0}%");
            }
            TimeSpan waited = Stopwatch.GetElapsedTime(start);
            if (busy.Count == 0)
                return (waited, null);
            if (waited >= limit)
                return (waited, string.Join(", ", busy));
        }
    }
}
