using Cdp.Server.Engine;
using Cdp.Server.Hosting;
using Cdp.Server.Profiles;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdp.Bench;

/// <summary>
/// <c>dotnet run -c Release --project bench -- profile-size [profiles]</c>: bytes per profile for a
/// typical living profile — 20 traits, 5 computed traits over 3 windows (30 d, 7 d, 24 h) and an
/// all-time one, fed by a month of events (8 orders, 40 page views, 12 product views) — as the record
/// itself and as FASTER log bytes per profile (records, identity entries, superseded copies).
/// </summary>
public static class ProfileSizeReport
{
    public static void Run(int profiles)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "cdp-size-" + Guid.NewGuid().ToString("N"));
        var options = new CdpOptions { DataDir = dataDir };
        options.Store.IndexBytes = 1 << 24;
        options.Store.MemoryBytes = 1L << 30;
        options.Store.CheckpointIntervalSeconds = 0;
        void Computed(string name, string function, string ev, string? property, string? window)
            => options.ComputedTraits[name] = new ComputedTraitOptions { Function = function, Event = ev, Property = property, Window = window };
        Computed("orders_30d", "count", "Order Completed", null, "30d");
        Computed("revenue_30d", "sum", "Order Completed", "revenue", "30d");
        Computed("skus_7d", "distinct_count", "Product Viewed", "sku", "7d");
        Computed("visits_24h", "count", "Page Viewed", null, "24h");
        Computed("last_order", "last", "Order Completed", null, null);
        var clock = new SteppingClock(DateTimeOffset.Parse("2026-10-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var engine = ProfileEngine.Open(options, clock, NullLogger.Instance);
        try
        {
            var log = engine.Store.Kv.Log;
            long begin = log.TailAddress;
            var random = new Random(42);
            var command = new WriteCommand();
            int lastRecord = 0;
            using (var session = engine.NewSession())
            {
                for (int i = 0; i < profiles; i++)
                {
                    clock.Set(DateTimeOffset.Parse("2026-10-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
                    command.Reset();
                    command.Kind = WriteKind.Identify;
                    command.AddIdentifier("email", $"user{i}@example.com", "email");
                    for (int t = 0; t < 20; t++)
                        command.AddTrait($"trait{t}", t % 3 == 0 ? TraitValue.Int(random.Next(100_000)) : TraitValue.String($"value-{t}-{random.Next(1000)}"), "traits");
                    session.Write(command);
                    // A month of activity, in time order, the way it would arrive.
                    var events = new List<(long Minute, string Name)>();
                    for (int e = 0; e < 8; e++) events.Add((random.Next(30 * 1440), "Order Completed"));
                    for (int e = 0; e < 40; e++) events.Add((random.Next(30 * 1440), "Page Viewed"));
                    for (int e = 0; e < 12; e++) events.Add((random.Next(30 * 1440), "Product Viewed"));
                    foreach (var (minute, name) in events.OrderBy(e => e.Minute))
                    {
                        clock.Set(DateTimeOffset.Parse("2026-10-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture).AddMinutes(minute));
                        command.Reset();
                        command.Kind = WriteKind.Track;
                        command.AddIdentifier("email", $"user{i}@example.com", "email");
                        command.Event = name;
                        if (name == "Order Completed") command.AddProperty("revenue", TraitValue.Int(random.Next(10, 300)), "properties");
                        if (name == "Product Viewed") command.AddProperty("sku", TraitValue.String($"sku-{random.Next(200)}"), "properties");
                        session.Write(command);
                    }
                    lastRecord = session.GetProfile("email", $"user{i}@example.com", null)!.Record.Length;
                }
                var sample = session.GetProfile("email", "user0@example.com", null)!;
                var r = new ProfileRecordReader(sample.Record, sample.SharedValues);
                int computedBytes = 0, states = 0;
                while (r.NextComputed(out _, out var state)) { computedBytes += state.Length + 3; states++; }
                Console.WriteLine($"profiles: {profiles:N0}; one profile: 20 traits, 3 event types, {states} computed-trait states");
                Console.WriteLine($"record: {sample.Record.Length} bytes (header {ProfileRecord.HeaderSize}, computed states {computedBytes}); last profile written: {lastRecord} bytes");
            }
            long logBytes = log.TailAddress - begin;
            Console.WriteLine($"FASTER log: {logBytes / (double)profiles:N0} bytes per profile (record + identity entry + superseded copies of 61 writes each)");
        }
        finally
        {
            engine.DisposeAsync().AsTask().GetAwaiter().GetResult();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    sealed class SteppingClock(DateTimeOffset start) : TimeProvider
    {
        DateTimeOffset now = start;
        public override DateTimeOffset GetUtcNow() => now;
        public void Set(DateTimeOffset value) => now = value;
    }
}
