using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Client;
using Cdp.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Cdp.Tests;

/// <summary>
/// Eight writers race over a shared pool of identifiers, chaining profiles together so that merges
/// happen all the time, also of profiles that another writer is merging at that moment. Afterwards
/// the identity graph must be a partition that matches the connected components of what was written:
/// every identifier leads to exactly one live profile that lists it, every master id a write ever
/// answered leads (through aliases) to the profile its identifiers lead to, and every track is counted
/// exactly once. The server is then killed (no final checkpoint), so the journal replays the concurrent
/// merges, and restarted once more gracefully; the graph must be the same each time, down to the ids.
/// Run twice: without checkpoints (the live graph is checked, then the whole journal is replayed onto an
/// empty store) and with a checkpoint every second, killed right after the last acknowledgement (replay
/// on top of a checkpoint taken while merges ran; the replayed graph is checked against the writes).
/// </summary>
public sealed class IdentityConcurrencyTests(ITestOutputHelper output)
{
    const int Writers = 8, WritesPerWriter = 2_500;
    /// <summary>Requests a writer keeps in flight on its connection (the acknowledgement waits for the journal's group commit).</summary>
    const int Lanes = 4;
    /// <summary>Steps after which every writer waits for the others, so that they keep working on the same groups.</summary>
    const int Phase = 100;
    const int Groups = 1_000, GroupsPerCluster = 4, Window = 4;
    const string Event = "Order Completed";
    static readonly (string Type, int Count)[] Pool = [("user_id", 3), ("email", 3), ("anonymous_id", 5), ("crm_id", 2)];

    static readonly (string Key, string Value)[] Settings =
    [
        ("Identity:Types:0", "crm_id"),
        // The graph under test is the one the writes draw: no identity limit stands in its way (a
        // cluster holds 12 user ids), so every link written is a link made.
        ("Identity:Rules:user_id:MaxValues", "100"),
        ("Identity:Rules:email:MaxValues", "100"),
        ("Identity:Rules:anonymous_id:MaxValues", "100"),
        ("Identity:Rules:crm_id:MaxValues", "100"),
        ("ComputedTraits:orders:Function", "count"),
        ("ComputedTraits:orders:Event", Event),
    ];

    /// <summary>One planned write: what is sent, and the message id that makes a retry a duplicate.</summary>
    sealed record Plan(bool Track, string MessageId, (string Type, string Value)[] Identifiers, bool Shared);

    [Theory]
    [InlineData(0)]   // no checkpoint before the kill: the whole journal is replayed onto an empty store
    [InlineData(1)]   // checkpoints every second while the writers run: replay on top of a checkpoint cut through merges
    public async Task Racing_merges_leave_a_partition_of_identifiers_that_survives_replay(int checkpointSeconds)
    {
        var plans = MakePlans();
        var (components, expectedEvents) = Expected(plans);
        output.WriteLine($"{plans.Sum(p => p.Length)} writes, {components.Select(c => c.Value).Distinct().Count()} expected profiles, {expectedEvents.Values.Sum()} distinct tracks");

        var dir = TestServer.NewDataDir();
        try
        {
            var total = Stopwatch.StartNew();
            var results = new (string Id, bool Duplicate)[Writers][];
            Dictionary<string, Snapshot>? before = null;
            var args = Settings.Select(s => $"--Cdp:{s.Key}={s.Value}").Append($"--Cdp:Store:CheckpointIntervalSeconds={checkpointSeconds}").ToArray();
            using (var process = await ServerProcess.StartAsync(dir, 0, args))
            {
                var sw = Stopwatch.StartNew();
                var barrier = new AsyncBarrier(Writers * Lanes);
                await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
                {
                    await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = process.BinaryPort, RequestTimeout = TimeSpan.FromSeconds(30) });
                    results[w] = new (string, bool)[plans[w].Length];
                    await Task.WhenAll(Enumerable.Range(0, Lanes).Select(async lane =>
                    {
                        for (int i = lane; i < plans[w].Length; i += Lanes)
                        {
                            if (i % Phase < Lanes)
                                await barrier.SignalAndWaitAsync();
                            var plan = plans[w][i];
                            var ids = plan.Identifiers.ToDictionary(x => x.Type, x => x.Value);
                            var r = plan.Track
                                ? await client.TrackAsync(new TrackRequest { Identifiers = ids, Event = Event, MessageId = plan.MessageId, Properties = new Dictionary<string, object?> { ["w"] = (long)w } })
                                : await client.IdentifyAsync(new IdentifyRequest { Identifiers = ids, MessageId = plan.MessageId, Traits = new Dictionary<string, object?> { ["w" + w] = (long)i } });
                            results[w][i] = (r.Id, r.Duplicate);
                        }
                    }));
                })));
                output.WriteLine($"writes: {sw.ElapsedMilliseconds} ms; checkpoints during the run: {process.Output.Split('\n').Count(l => l.Contains("checkpoint", StringComparison.Ordinal) && l.Contains("done", StringComparison.Ordinal))}");
                if (checkpointSeconds > 0)
                    process.Kill();   // at once, so that the replay starts at a checkpoint taken while the writers ran

                // Exactly one of the two sends of a shared message id was applied.
                for (int w = 0; w < Writers; w += 2)
                    for (int i = 0; i < WritesPerWriter; i++)
                    {
                        if (plans[w][i].Shared)
                            Assert.True(results[w][i].Duplicate ^ results[w + 1][i].Duplicate, $"message {plans[w][i].MessageId}: exactly one send is applied");
                        else
                            Assert.False(results[w][i].Duplicate || results[w + 1][i].Duplicate);
                    }

                if (checkpointSeconds == 0)
                {
                    await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = process.BinaryPort, PoolSize = 4, RequestTimeout = TimeSpan.FromSeconds(30) });
                    using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{process.HttpPort}") };
                    before = await CheckPartition(client, http, plans, results, components, expectedEvents);
                    process.Kill();
                }
            }

            // Killed: the journal (after the last checkpoint, if any) replays the racing merges.
            await using (var s = await TestServer.StartAsync(null, dir, Settings))
            {
                var journal = s.Engine.Journal.Read(s.Engine.Journal.BeginAddress, s.Engine.Journal.CommittedUntilAddress)
                    .Select(e => Cdp.Server.Journal.SealedEntry.Open(e.Entry, s.Engine.Keys)!).ToList();
                int merges = journal.Count(e => e.MergedFrom.Count > 0), multi = journal.Count(e => e.MergedFrom.Count > 1);
                output.WriteLine($"replayed {s.Engine.ReplayedEntries} journal entries: {merges} merges, {multi} of three or more profiles");
                if (checkpointSeconds == 0)
                    Assert.True(merges >= 1_000, $"only {merges} merges: the test no longer exercises what it is meant to");
                var after = await CheckPartition(s, plans, results, components, expectedEvents);
                if (before is not null)
                    AssertSameGraph(before, after);
                before = after;
            }
            // Stopped gracefully: recovered from the final checkpoint alone.
            await using (var s = await TestServer.StartAsync(null, dir, Settings))
            {
                Assert.Equal(0, s.Engine.ReplayedEntries);
                AssertSameGraph(before, await CheckPartition(s, plans, results, components, expectedEvents));
            }
            output.WriteLine($"total: {total.ElapsedMilliseconds} ms");
        }
        finally
        {
            TestServer.TryDelete(dir);
        }
    }

    /// <summary>
    /// Deterministic writes: writer w's step i works on one of <see cref="Window"/> neighbouring groups
    /// of a window that moves through the groups at the same pace for every writer (kept in step by a
    /// barrier every <see cref="Phase"/> steps), so the writers hammer the same few groups at once. A write carries 2-3 identifiers of distinct types from its group (now and
    /// then from the next group of the same cluster, which chains whole groups together). Writers 2k
    /// and 2k+1 send some writes with the same message id at the same step: one of them is a duplicate.
    /// </summary>
    static Plan[][] MakePlans()
    {
        var plans = new Plan[Writers][];
        for (int w = 0; w < Writers; w++)
        {
            var random = new Random(1000 + w);
            plans[w] = new Plan[WritesPerWriter];
            for (int i = 0; i < WritesPerWriter; i++)
            {
                int pair = w / 2;
                var shared = new Random(7_919 * pair + 31 * i + 17);
                bool isShared = new Random(pair * 100_003 + i).Next(12) == 0;
                plans[w][i] = isShared
                    ? MakePlan(shared, i, $"s{pair}-{i}", true)
                    : MakePlan(random, i, $"w{w}-{i}", false);
            }
        }
        return plans;
    }

    static Plan MakePlan(Random random, int step, string messageId, bool shared)
    {
        int group = (step * Groups / WritesPerWriter + random.Next(Window)) % Groups;
        int count = random.Next(2, 4);
        var types = Pool.OrderBy(_ => random.Next()).Take(count).ToArray();
        bool link = group % GroupsPerCluster != GroupsPerCluster - 1 && random.Next(6) == 0;
        var ids = new (string, string)[count];
        for (int k = 0; k < count; k++)
        {
            int g = link && k == count - 1 ? group + 1 : group;
            var (type, n) = types[k];
            ids[k] = (type, Value(type, g, random.Next(n)));
        }
        return new Plan(random.Next(10) < 4, messageId, ids, shared);
    }

    static string Value(string type, int group, int n) => type == "email" ? $"e{group}-{n}@race.test" : $"{type[0]}{group}-{n}";

    static string Key(string type, string value) => type + "/" + value;

    /// <summary>The connected components of the identifiers (as a representative per identifier) and the distinct tracks per component.</summary>
    static (Dictionary<string, string> Components, Dictionary<string, long> Events) Expected(Plan[][] plans)
    {
        var parent = new Dictionary<string, string>();
        string Find(string x)
        {
            while (parent[x] != x)
                x = parent[x] = parent[parent[x]];
            return x;
        }
        foreach (var plan in plans.SelectMany(p => p))
        {
            foreach (var (t, v) in plan.Identifiers)
                parent.TryAdd(Key(t, v), Key(t, v));
            for (int k = 1; k < plan.Identifiers.Length; k++)
                parent[Find(Key(plan.Identifiers[k].Type, plan.Identifiers[k].Value))] = Find(Key(plan.Identifiers[0].Type, plan.Identifiers[0].Value));
        }
        var components = parent.Keys.ToDictionary(k => k, Find);
        var events = components.Values.Distinct().ToDictionary(c => c, _ => 0L);
        foreach (var plan in plans.SelectMany(p => p).Where(p => p.Track).DistinctBy(p => p.MessageId))
            events[components[Key(plan.Identifiers[0].Type, plan.Identifiers[0].Value)]]++;
        return (components, events);
    }

    /// <summary>A live profile as the checks saw it.</summary>
    sealed record Snapshot(string Id, SortedSet<string> Identifiers, long Events, long Orders);

    async Task<Dictionary<string, Snapshot>> CheckPartition(TestServer s, Plan[][] plans, (string Id, bool Duplicate)[][] results,
        Dictionary<string, string> components, Dictionary<string, long> expectedEvents)
    {
        await using var client = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort, PoolSize = 4, RequestTimeout = TimeSpan.FromSeconds(30) });
        return await CheckPartition(client, s.Http, plans, results, components, expectedEvents);
    }

    /// <summary>
    /// Checks the graph against the expected components and returns the live profiles by id:
    /// the export lists each live profile once, with identifiers that each lead back to it and are in
    /// no other profile; every identifier written leads to the live profile of its component, which
    /// lists exactly the component's identifiers; every id a write answered leads there too; events
    /// and the computed count add up to the distinct tracks of the component.
    /// </summary>
    async Task<Dictionary<string, Snapshot>> CheckPartition(CdpClient client, HttpClient http, Plan[][] plans, (string Id, bool Duplicate)[][] results,
        Dictionary<string, string> components, Dictionary<string, long> expectedEvents)
    {
        var sw = Stopwatch.StartNew();
        // The export: every live profile once.
        var live = new Dictionary<string, Snapshot>();
        var owner = new Dictionary<string, string>();
        using (var stream = await http.GetStreamAsync("/v1/export?format=ndjson"))
        using (var reader = new StreamReader(stream))
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.Length == 0)
                    continue;
                using var doc = JsonDocument.Parse(line);
                var p = doc.RootElement;
                var id = p.GetProperty("id").GetString()!;
                var identifiers = new SortedSet<string>(StringComparer.Ordinal);
                foreach (var type in p.GetProperty("identifiers").EnumerateObject())
                    foreach (var v in type.Value.EnumerateArray())
                        identifiers.Add(Key(type.Name, v.GetString()!));
                long events = p.TryGetProperty("events", out var ev) && ev.TryGetProperty(Event, out var e) ? e.GetProperty("count").GetInt64() : 0;
                long orders = p.TryGetProperty("computed", out var c) && c.TryGetProperty("orders", out var o) ? o.GetInt64() : 0;
                Assert.True(live.TryAdd(id, new Snapshot(id, identifiers, events, orders)), $"profile {id} is exported twice");
                foreach (var key in identifiers)
                    Assert.True(owner.TryAdd(key, id), $"identifier {key} is in profiles {(owner.TryGetValue(key, out var other) ? other : "?")} and {id}");
            }
        }

        // Every identifier written leads to exactly one live profile, which lists it; that profile is
        // the one of its component, and a component is one profile.
        var profileOfComponent = new Dictionary<string, string>();
        var lookups = await Task.WhenAll(components.Keys.Select(async key =>
        {
            int slash = key.IndexOf('/');
            return (Key: key, Profile: await client.GetProfileAsync(key[..slash], key[(slash + 1)..]));
        }));
        foreach (var (key, profile) in lookups)
        {
            Assert.True(profile is not null, $"identifier {key} leads to no profile");
            Assert.True(live.ContainsKey(profile!.Id), $"identifier {key} leads to profile {profile.Id}, which the export does not list");
            Assert.True(owner.TryGetValue(key, out var listedIn) && listedIn == profile.Id,
                $"identifier {key} leads to profile {profile.Id}, but is listed in {(listedIn ?? "no profile")}");
            var component = components[key];
            Assert.True(profileOfComponent.TryAdd(component, profile.Id) || profileOfComponent[component] == profile.Id,
                $"identifiers linked by writes ({key} and {component}) lead to profiles {profile.Id} and {profileOfComponent[component]}");
        }
        Assert.Equal(profileOfComponent.Count, profileOfComponent.Values.Distinct().Count());   // two components never share a profile
        Assert.Equal(profileOfComponent.Count, live.Count);                                       // and nothing else is live
        foreach (var (component, id) in profileOfComponent)
        {
            var expected = components.Where(x => x.Value == component).Select(x => x.Key).Order(StringComparer.Ordinal);
            Assert.Equal(expected, live[id].Identifiers);
            Assert.True(expectedEvents[component] == live[id].Events, $"profile {id}: {live[id].Events} events, expected {expectedEvents[component]}");
            Assert.Equal(expectedEvents[component], live[id].Orders);
        }
        Assert.Equal(expectedEvents.Values.Sum(), live.Values.Sum(p => p.Events));

        // Every master id a write answered leads (through aliases) to the profile its identifiers lead to.
        var answered = new Dictionary<string, string>();
        for (int w = 0; w < Writers; w++)
            for (int i = 0; i < WritesPerWriter; i++)
            {
                var (t, v) = plans[w][i].Identifiers[0];
                var expectedProfile = profileOfComponent[components[Key(t, v)]];
                Assert.True(answered.TryAdd(results[w][i].Id, expectedProfile) || answered[results[w][i].Id] == expectedProfile,
                    $"master id {results[w][i].Id} was answered for writes of profiles {answered[results[w][i].Id]} and {expectedProfile}");
            }
        var byId = await Task.WhenAll(answered.Keys.Select(async id => (Id: id, Profile: await client.GetProfileAsync("id", id))));
        foreach (var (id, profile) in byId)
        {
            Assert.True(profile is not null, $"master id {id}, answered by a write, leads to no profile");
            Assert.True(profile!.Id == answered[id], $"master id {id} leads to profile {profile.Id}, but its writes' identifiers lead to {answered[id]}");
        }
        output.WriteLine($"checked {live.Count} live profiles, {components.Count} identifiers, {answered.Count} answered ids in {sw.ElapsedMilliseconds} ms");
        return live;
    }

    /// <summary>Releases everyone when the last of <c>participants</c> arrives; reusable, phase after phase.</summary>
    sealed class AsyncBarrier(int participants)
    {
        readonly object gate = new();
        int arrived;
        TaskCompletionSource phase = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task SignalAndWaitAsync()
        {
            lock (gate)
            {
                var current = phase;
                if (++arrived < participants)
                    return current.Task;
                arrived = 0;
                phase = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                current.SetResult();
                return Task.CompletedTask;
            }
        }
    }

    static void AssertSameGraph(Dictionary<string, Snapshot> before, Dictionary<string, Snapshot> after)
    {
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (id, b) in before)
        {
            var a = after[id];
            Assert.Equal(b.Identifiers, a.Identifiers);
            Assert.Equal(b.Events, a.Events);
            Assert.Equal(b.Orders, a.Orders);
        }
    }
}
