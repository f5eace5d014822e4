using System.Diagnostics;
using Cdp.Server.Journal;
using FASTER.core;

namespace Cdp.Bench;

/// <summary>
/// <c>dotnet run -c Release --project bench -- commit-timing [commits] [entries per commit]</c>: wall time
/// of a FasterLog group commit on this disk with the journal's settings, with the journal's two-slot
/// <see cref="JournalCommitFile"/> and with FASTER's default of a file per commit, in alternating rounds
/// so both see the same disk. Each commit carries the given number of 300-byte entries (the size of a
/// sealed track entry), like one group commit under load.
/// </summary>
public static class CommitTiming
{
    public static void Run(int commits, int entriesPerCommit)
    {
        var results = new Dictionary<string, List<double>> { ["two-slot file"] = [], ["file per commit"] = [] };
        var cpu = new Dictionary<string, TimeSpan> { ["two-slot file"] = TimeSpan.Zero, ["file per commit"] = TimeSpan.Zero };
        const int Rounds = 4;
        for (int round = 0; round < Rounds; round++)
        {
            foreach (var (name, times) in results)
            {
                var before = Process.GetCurrentProcess().TotalProcessorTime;
                times.AddRange(Measure(name == "two-slot file", commits / Rounds, entriesPerCommit));
                cpu[name] += Process.GetCurrentProcess().TotalProcessorTime - before;
            }
        }
        Console.WriteLine($"{commits:N0} commits of {entriesPerCommit} x 300 B, {Rounds} alternating rounds; wall ms per commit, and process CPU ms per commit (enqueueing included):");
        Console.WriteLine($"{"commit records",-18} {"p50",8} {"p90",8} {"p99",8} {"mean",8} {"CPU",8}");
        foreach (var (name, times) in results)
        {
            times.Sort();
            double P(double q) => times[(int)Math.Min(times.Count - 1, q * times.Count)];
            Console.WriteLine($"{name,-18} {P(0.5),8:0.000} {P(0.9),8:0.000} {P(0.99),8:0.000} {times.Average(),8:0.000} {cpu[name].TotalMilliseconds / times.Count,8:0.000}");
        }
    }

    static List<double> Measure(bool twoSlot, int commits, int entriesPerCommit)
    {
        var dir = Path.Combine(Path.GetTempPath(), "cdp-commit-timing-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var commitDir = Path.Combine(dir, "commits");
        var device = Devices.CreateLogDevice(Path.Combine(dir, "journal.log"), preallocateFile: false);
        ILogCommitManager manager = twoSlot
            ? new JournalCommitFile(commitDir, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)
            : new DeviceLogCommitCheckpointManager(new LocalStorageNamedDeviceFactory(), new DefaultCheckpointNamingScheme(commitDir));
        var times = new List<double>(commits);
        try
        {
            using var log = new FasterLog(new FasterLogSettings
            {
                LogDevice = device,
                PageSize = 1L << 22,
                MemorySize = 1L << 25,
                LogCommitManager = manager,
                LogChecksum = LogChecksumType.PerEntry,
                AutoRefreshSafeTailAddress = false,
            });
            var entry = new byte[300];
            for (int c = 0; c < commits; c++)
            {
                for (int e = 0; e < entriesPerCommit; e++)
                    log.Enqueue(entry);
                long start = Stopwatch.GetTimestamp();
                log.CommitAsync().AsTask().GetAwaiter().GetResult();
                times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }
        finally
        {
            manager.Dispose();
            device.Dispose();
            Directory.Delete(dir, recursive: true);
        }
        return times;
    }
}
