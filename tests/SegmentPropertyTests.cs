using System.Globalization;
using Cdp.Server.Engine;
using Cdp.Server.Hosting;
using Cdp.Server.Profiles;
using Cdp.Server.Segments;
using Cdp.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// The incremental engine is never wrong: after random writes (traits, events feeding windowed and
/// all-time computed traits, merges of profiles), random clock advances (the scheduler fires on the
/// fake clock) and rules defined, changed and deleted along the way, every profile's stored
/// membership of every segment equals a full evaluation of the rule from scratch, each segment's
/// member set and count agree with that, and a restart (checkpoint + replay) gives the same.
/// </summary>
public sealed class SegmentPropertyTests
{
    static readonly DateTimeOffset Origin = DateTimeOffset.Parse("2026-03-01T09:00:00Z", CultureInfo.InvariantCulture);

    static readonly (string Name, string Rule)[] Rules =
    [
        ("de", "traits.country = \"DE\""),
        ("buyers", "computed.orders_7d >= 2"),
        ("recent", "days_since(computed.last_visit) < 3"),
        ("no_vip", "not exists(traits.vip)"),
        ("de_adults", "in_segment(\"de\") and traits.age > 30"),
        ("idle_or_west", "traits.country in [\"FR\", \"US\"] or computed.orders_7d = 0"),
        ("spenders", "computed.revenue_all > 100 and not in_segment(\"recent\")"),
        ("tagged", "traits.tags contains \"gold\" or traits.name contains \"ann\""),
    ];

    static CdpOptions Options(string dir)
    {
        var o = new CdpOptions { DataDir = dir, MaxFrameBodyBytes = 1 << 14 };
        o.Store.IndexBytes = 1 << 16;
        o.Store.MemoryBytes = 1 << 22;
        o.Store.PageBytes = 1 << 18;
        o.Store.CheckpointIntervalSeconds = 0;
        o.Journal.PageBytes = 1 << 16;
        o.Journal.MemoryBytes = 1 << 18;
        o.Identity.Rules["email"] = new() { MaxValues = 1000 };
        o.Identity.Rules["anonymous_id"] = new() { MaxValues = 1000 };
        o.Traits.Declared["country"] = "string";
        o.Traits.Declared["age"] = "number";
        o.Traits.Declared["vip"] = "bool";
        o.Traits.Declared["tags"] = "list";
        o.Traits.Declared["name"] = "string";
        o.ComputedTraits["orders_7d"] = new() { Function = "count", Event = "Order Completed", Window = "7d" };
        o.ComputedTraits["revenue_all"] = new() { Function = "sum", Event = "Order Completed", Property = "revenue" };
        o.ComputedTraits["last_visit"] = new() { Function = "last", Event = "Page Viewed" };
        return o;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public async Task Incremental_membership_always_equals_a_full_evaluation(int seed)
    {
        var random = new Random(seed);
        var dir = TestServer.NewDataDir();
        var clock = new FakeTimeProvider(Origin);
        try
        {
            var engine = ProfileEngine.Open(Options(dir), clock, NullLogger.Instance);
            try
            {
                var session = engine.NewSession();
                var defined = new Dictionary<string, string>();
                string lastOp = "";
                // Half the rules exist before any write, the rest arrive over existing profiles (backfill).
                foreach (var (name, rule) in Rules.Take(4))
                    Define(engine, defined, name, rule);
                await engine.Segments.WaitForBackfillsAsync();
                for (int step = 0; step < 400; step++)
                {
                    int roll = random.Next(100);
                    lastOp = $"roll {roll}";
                    if (roll < 60)
                    {
                        var w = RandomWrite(random);
                        lastOp = $"{w.Kind} {w.Event} ids {string.Join(",", w.Identifiers.Select(i => i.Value))} traits {string.Join(",", w.Traits.Select(t => t.Name + "=" + t.Value))}";
                        var res = session.Write(w);
                        lastOp += $" -> {res.MasterId} created {res.Created}";
                    }
                    else if (roll < 75)
                        clock.Advance(TimeSpan.FromMilliseconds(random.Next(1, 4) switch { 1 => random.Next(1, 3_600_000), 2 => random.Next(1, 86_400_000), _ => 86_400_000L * random.Next(1, 4) }));
                    else if (roll < 80)
                    {
                        var (name, rule) = Rules[random.Next(Rules.Length)];
                        if (Reads(rule).All(defined.ContainsKey))
                            Define(engine, defined, name, rule);
                        await engine.Segments.WaitForBackfillsAsync();
                    }
                    else if (roll < 82 && defined.Count > 0)
                    {
                        var name = defined.Keys.ElementAt(random.Next(defined.Count));
                        if (!defined.Values.Any(r => Reads(r).Contains(name)))
                        {
                            Assert.True(engine.Segments.Delete(name));
                            defined.Remove(name);
                        }
                    }
                    else
                        session.Write(RandomWrite(random));
                    if (step % 20 == 19)
                        CheckAgainstFullEvaluation(engine, session, $"seed {seed}, step {step} (last: {lastOp})");
                }
                CheckAgainstFullEvaluation(engine, session, $"seed {seed}, end");
                session.Dispose();
            }
            finally
            {
                await engine.DisposeAsync();
            }
            // A restart recovers memberships from the checkpoint and the scheduler from the stored check times.
            var again = ProfileEngine.Open(Options(dir), clock, NullLogger.Instance);
            try
            {
                await again.Segments.WaitForBackfillsAsync();
                using var s2 = again.NewSession();
                CheckAgainstFullEvaluation(again, s2, $"seed {seed}, after restart");
                clock.Advance(TimeSpan.FromDays(2));
                CheckAgainstFullEvaluation(again, s2, $"seed {seed}, after restart and 2 days");
            }
            finally
            {
                await again.DisposeAsync();
            }
            // Without the checkpoints, as after a crash before the first one: the journal alone rebuilds
            // every membership, and checks that fell due between the replayed writes are made at start.
            Directory.Delete(Path.Combine(dir, "checkpoints"), recursive: true);
            var replayed = ProfileEngine.Open(Options(dir), clock, NullLogger.Instance);
            try
            {
                await replayed.Segments.WaitForBackfillsAsync();
                clock.Advance(TimeSpan.FromMilliseconds(1));
                using var s3 = replayed.NewSession();
                CheckAgainstFullEvaluation(replayed, s3, $"seed {seed}, after a full replay");
            }
            finally
            {
                await replayed.DisposeAsync();
            }
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    static IEnumerable<string> Reads(string rule)
        => System.Text.RegularExpressions.Regex.Matches(rule, "in_segment\\(\"([a-z_]+)\"\\)").Select(m => m.Groups[1].Value);

    static void Define(ProfileEngine engine, Dictionary<string, string> defined, string name, string rule)
    {
        engine.Segments.Define(name, rule);
        defined[name] = rule;
    }

    static WriteCommand RandomWrite(Random random)
    {
        var c = new WriteCommand();
        int profile = random.Next(25);
        c.AddIdentifier("anonymous_id", "a" + profile, "anonymousId");
        // Now and then a second profile's e-mail: the two profiles merge.
        if (random.Next(12) == 0)
            c.AddIdentifier("email", $"p{random.Next(25)}@x.com", "traits.email");
        else if (random.Next(3) == 0)
            c.AddIdentifier("email", $"p{profile}@x.com", "traits.email");
        if (random.Next(2) == 0)
        {
            c.Kind = WriteKind.Identify;
            if (random.Next(2) == 0)
                c.AddTrait("country", TraitValue.String(new[] { "DE", "FR", "US", "NL" }[random.Next(4)]), "traits.country");
            if (random.Next(2) == 0)
                c.AddTrait("age", TraitValue.Int(random.Next(15, 70)), "traits.age");
            if (random.Next(6) == 0)
                c.AddTrait("vip", random.Next(3) == 0 ? TraitValue.Null : TraitValue.Bool(random.Next(2) == 0), "traits.vip");
            if (random.Next(5) == 0)
                c.AddTrait("tags", TraitValue.StringList(random.Next(2) == 0 ? ["gold", "x"] : ["silver"]), "traits.tags");
            if (random.Next(5) == 0)
                c.AddTrait("name", TraitValue.String(new[] { "joanna", "bob", "anne" }[random.Next(3)]), "traits.name");
            if (c.Traits.Count == 0)
                c.AddTrait("country", TraitValue.String("DE"), "traits.country");
        }
        else
        {
            c.Kind = WriteKind.Track;
            if (random.Next(2) == 0)
            {
                c.Event = "Order Completed";
                c.AddProperty("revenue", TraitValue.Int(random.Next(1, 120)), "properties.revenue");
            }
            else
                c.Event = "Page Viewed";
        }
        return c;
    }

    /// <summary>
    /// Every live profile against every segment: the stored membership (what the incremental engine
    /// decided), the segment's member set, and the rule evaluated afresh now must agree; counts too.
    /// </summary>
    static void CheckAgainstFullEvaluation(ProfileEngine engine, EngineSession session, string when)
    {
        var set = engine.Segments.Current;
        var expectedCounts = set.All.ToDictionary(s => s.Name, _ => 0L);
        var problems = new List<string>();
        for (ulong id = 1; id <= engine.LastMasterId; id++)
        {
            if (session.GetProfileById(id) is not { } view || view.MasterId != id)
            {
                foreach (var s in set.All)
                    if (s.Members.Contains(id))
                        problems.Add($"{when}: profile {id} is not live but is in {s.Name}'s member set");
                continue;
            }
            var stored = session.SegmentsOf(id).Select(m => m.Name).ToHashSet();
            var identifier = FirstIdentifier(view);
            foreach (var s in set.All)
            {
                var fresh = session.ExplainSegment(identifier.Type, identifier.Value, s)!;
                bool truth = fresh.Conditions[0].Holds;
                if (truth)
                    expectedCounts[s.Name]++;
                if (stored.Contains(s.Name) != truth)
                {
                    var entries = new List<(uint, long)>();
                    long next = session.ReadMemberships(id, entries);
                    problems.Add($"{when}: profile {id} {(truth ? "holds" : "fails")} '{s.Rule}' but its stored membership says {(stored.Contains(s.Name) ? "in" : "out")} (now {engine.NowUnixMs()}, next check {next}, pending {engine.Segments.Scheduler.Pending}, since {string.Join(",", entries)})");
                }
                if (s.Members.Contains(id) != truth)
                    problems.Add($"{when}: profile {id} {(truth ? "holds" : "fails")} '{s.Rule}' but the member set says {(s.Members.Contains(id) ? "in" : "out")}");
            }
        }
        foreach (var s in set.All)
            if (s.Members.Count != expectedCounts[s.Name])
                problems.Add($"{when}: segment {s.Name} counts {s.Members.Count}, a recount gives {expectedCounts[s.Name]}");
        if (problems.Count > 0)
            throw new Xunit.Sdk.XunitException(string.Join("\n", problems.Take(20)));
    }

    static (string Type, string Value) FirstIdentifier(ProfileView view)
    {
        var r = new ProfileRecordReader(view.Record, view.SharedValues);
        Assert.True(r.NextIdentifier(out var type, out var value));
        return (view.IdentifierTypeStringOf(type), System.Text.Encoding.UTF8.GetString(value));
    }
}
