using Cdp.Server.Engine;
using Cdp.Server.Hosting;
using Cdp.Server.Profiles;
using Cdp.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// A segment defined over many existing profiles while writers keep changing the field it reads and
/// creating new profiles: when the backfill is done and the writers stop, the member count equals a
/// recount made from the stored trait values (not through the rule engine), and every profile's
/// membership agrees. 100,000 profiles here; <c>CDP_BACKFILL_PROFILES=1000000</c> runs the
/// acceptance size (docs/segments.md has the figures).
/// </summary>
public sealed class SegmentBackfillTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task A_backfill_with_concurrent_writes_ends_with_the_exact_count()
    {
        int profiles = int.TryParse(Environment.GetEnvironmentVariable("CDP_BACKFILL_PROFILES"), out int n) ? n : 100_000;
        var dir = TestServer.NewDataDir();
        var options = new CdpOptions { DataDir = dir };
        options.Store.IndexBytes = 1L << 27;
        options.Store.MemoryBytes = 1L << 30;
        options.Store.CheckpointIntervalSeconds = 0;
        options.Traits.Declared["score"] = "number";
        try
        {
            await using var engine = ProfileEngine.Open(options, TimeProvider.System, NullLogger.Instance);
            await Parallel.ForAsync(0, 4, async (w, _) =>
            {
                using var session = engine.NewSession();
                var c = new WriteCommand();
                for (int i = w; i < profiles; i += 4)
                    Write(session, c, "u" + i, i % 100);
                await Task.CompletedTask;
            });

            using var stop = new CancellationTokenSource();
            long writes = 0;
            var writers = Enumerable.Range(0, 3).Select(w => Task.Run(() =>
            {
                using var session = engine.NewSession();
                var c = new WriteCommand();
                var random = new Random(w);
                int created = 0;
                while (!stop.IsCancellationRequested)
                {
                    // Mostly flips of existing profiles across the threshold, now and then a new profile.
                    if (random.Next(10) == 0)
                        Write(session, c, $"new{w}-{created++}", random.Next(100));
                    else
                        Write(session, c, "u" + random.Next(profiles), random.Next(100));
                    Interlocked.Increment(ref writes);
                }
            })).ToArray();

            var started = System.Diagnostics.Stopwatch.StartNew();
            var (segment, _) = engine.Segments.Define("high", "traits.score >= 50");
            Assert.True(segment.Backfilling || segment.BackfillDone == segment.BackfillTotal);
            await engine.Segments.WaitForBackfillsAsync();
            Assert.False(segment.Backfilling);
            Assert.Equal((long)segment.BackfillTotal, segment.BackfillDone);
            long writesDuringBackfill = Interlocked.Read(ref writes);
            var backfillTime = started.Elapsed;
            stop.Cancel();
            await Task.WhenAll(writers);
            Assert.True(writesDuringBackfill > 0, "the writers made no write while the backfill ran");

            using var reader = engine.NewSession();
            long recount = 0;
            var wrong = new List<ulong>();
            var scoreId = engine.Schema.TryGetId("score", out var id) ? id : throw new InvalidOperationException("score is not interned");
            for (ulong p = 1; p <= engine.LastMasterId; p++)
            {
                if (reader.GetProfileById(p) is not { } view || view.MasterId != p)
                    continue;
                long score = -1;
                var r = new ProfileRecordReader(view.Record, view.SharedValues);
                while (r.NextTrait(out var t))
                    if (t.NameId == scoreId)
                        score = t.Integer;
                bool member = score >= 50;
                if (member)
                    recount++;
                if (segment.Members.Contains(p) != member && wrong.Count < 10)
                    wrong.Add(p);
            }
            Assert.Empty(wrong);
            Assert.Equal(recount, segment.Members.Count);
            output.WriteLine($"{profiles:N0} profiles: backfill {backfillTime.TotalSeconds:F1} s with {writesDuringBackfill:N0} concurrent writes; {recount:N0} members, recount equal; bitmap {segment.Members.Bytes:N0} bytes");
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    static void Write(EngineSession session, WriteCommand c, string user, int score)
    {
        c.Reset();
        c.Kind = WriteKind.Identify;
        c.AddIdentifier("user_id", user, "userId");
        c.AddTrait("score", TraitValue.Int(score), "traits.score");
        session.Write(c);
    }
}
