using System.Diagnostics;

namespace Cdp.LoadTests.Compare;

/// <summary>CPU time used by the target server and by this harness between <see cref="Open"/> and <see cref="Close"/>.</summary>
internal sealed class CpuWindow(ProcessCpuProbe? server)
{
    private long openedAt;
    private TimeSpan? serverAtOpen;
    private TimeSpan harnessAtOpen;

    public void Open()
    {
        serverAtOpen = server?.CpuTime();
        harnessAtOpen = Environment.CpuUsage.TotalTime;
        openedAt = Stopwatch.GetTimestamp();
    }

    public CpuUsage Close()
    {
        TimeSpan wall = Stopwatch.GetElapsedTime(openedAt);
        TimeSpan? serverNow = server?.CpuTime();
        TimeSpan? serverUsed = serverAtOpen is { } before && serverNow is { } after ? after - before : null;
        return new CpuUsage(wall, serverUsed, Environment.CpuUsage.TotalTime - harnessAtOpen);
    }
}

/// <summary>CPU time spent in a wall-clock interval; null server time when the server process could not be read.</summary>
internal readonly record struct CpuUsage(TimeSpan Wall, TimeSpan? Server, TimeSpan Harness);
