using System.Runtime.InteropServices;
using Cdp.Server.Binary;
using Cdp.Server.Engine;

namespace Cdp.Bench;

/// <summary>
/// <c>dotnet run -c Release --project bench -- track-timing [writes]</c>: the engine side of a track write
/// (<see cref="TrackBenchmarks.ParseAndWrite"/>) timed by the CPU time of the writing thread, which on a
/// shared VM moves less than wall-clock time; several rounds, the lowest and the median printed.
/// </summary>
public static partial class TrackTiming
{
    public static void Run(int writes)
    {
        var benchmarks = new TrackBenchmarks();
        benchmarks.Setup();
        try
        {
            for (int i = 0; i < 50_000; i++)
                benchmarks.ParseAndWrite();
            var rounds = new List<double>();
            for (int round = 0; round < 21; round++)
            {
                long before = ThreadCpuNanoseconds();
                for (int i = 0; i < writes; i++)
                    benchmarks.ParseAndWrite();
                rounds.Add((ThreadCpuNanoseconds() - before) / (double)writes);
            }
            rounds.Sort();
            Console.WriteLine($"track write (parse + engine), thread CPU per write over {writes:N0} writes x 21 rounds: min {rounds[0]:F0} ns, median {rounds[10]:F0} ns, max {rounds[^1]:F0} ns");
        }
        finally
        {
            benchmarks.Cleanup();
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    static long ThreadCpuNanoseconds()
    {
        const int ThreadCpuTime = 3; // CLOCK_THREAD_CPUTIME_ID
        if (ClockGetTime(ThreadCpuTime, out var t) != 0)
            throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        return t.Seconds * 1_000_000_000 + t.Nanoseconds;
    }
}
