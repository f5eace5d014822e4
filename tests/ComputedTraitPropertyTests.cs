using System.Globalization;
using System.Text;
using Cdp.Server.Computed;
using Cdp.Server.Engine;
using Cdp.Server.Hosting;
using Cdp.Server.Journal;
using Cdp.Server.Profiles;
using Cdp.Tests.Infrastructure;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Property tests of computed traits through a real <see cref="ProfileEngine"/> (FASTER store and
/// journal in a temporary folder, a manual clock for receive and read times):
/// every computed value equals a naive recomputation over the events that were sent, the catalog's
/// NextChange equals the naive earliest change of window membership, and replaying the journal
/// into a fresh engine rebuilds the live records byte for byte.
/// </summary>
public sealed class ComputedTraitPropertyTests
{
    const long Second = 1000;
    const long Minute = 60 * Second;
    const long Hour = 60 * Minute;
    const long Day = 24 * Hour;

    // ---------------------------------------------------------------- the traits under test

    /// <summary>A computed trait as configured, and the same trait as the naive model reads it.</summary>
    sealed record TraitSpec(string Name, ComputedTraitOptions Options, ComputedFunction Function, string? Event, string? Property,
        Func<Write, bool> Where, long BucketMs, int Buckets, int MaxValues = 256)
    {
        public bool Windowed => Buckets > 0;
    }

    static bool RevenueOver50(Write w) => w.Revenue is { Kind: TraitKind.Int or TraitKind.Double } v && AsDouble(v) > 50;
    static bool SkuExists(Write w) => w.Sku is { Kind: not TraitKind.Null };
    static bool SkuNotDd(Write w) => w.Sku is { Kind: TraitKind.String } v && v.Text != "DD";
    static bool Always(Write w) => true;

    const string Order = "Order Completed";
    const string View = "Page Viewed";

    static TraitSpec Spec(string name, string function, string? ev, string? property, long bucketMs, int buckets,
        string? window = null, string? bucket = null, string[]? where = null, Func<Write, bool>? predicate = null, int maxValues = 256)
    {
        ComputedFunctionNames.TryParse(function, out var f);
        return new TraitSpec(name,
            new ComputedTraitOptions { Function = function, Event = ev, Property = property, Window = window, Bucket = bucket, Where = [.. where ?? []], MaxValues = maxValues },
            f, ev is null or "*" ? null : ev, property, predicate ?? Always, bucketMs, buckets, maxValues);
    }

    static readonly TraitSpec[] Specs =
    [
        Spec("orders_all", "count", Order, null, 0, 0),
        Spec("events_24h", "count", "*", null, Hour, 24, window: "24h", bucket: "1h"),
        Spec("events_6h", "count", null, null, 90 * Minute, 4, window: "6h", bucket: "90m"),
        Spec("sku_events_7d", "count", null, null, 12 * Hour, 14, window: "7d", bucket: "12h", where: ["sku exists"], predicate: SkuExists),
        Spec("revenue_30d", "sum", Order, "revenue", Day, 30, window: "30d"),
        Spec("revenue_all", "sum", null, "revenue", 0, 0),
        Spec("big_revenue_7d", "sum", Order, "revenue", 6 * Hour, 28, window: "7d", bucket: "6h", where: ["revenue > 50"], predicate: RevenueOver50),
        Spec("min_revenue_30d", "min", Order, "revenue", Day, 30, window: "30d", bucket: "1d"),
        Spec("max_revenue_all", "max", Order, "revenue", 0, 0),
        Spec("max_revenue_24h", "max", null, "revenue", Hour, 24, window: "24h"),
        Spec("avg_revenue_30d", "average", Order, "revenue", Day, 30, window: "30d"),
        Spec("avg_big_revenue_all", "avg", Order, "revenue", 0, 0, where: ["revenue > 50"], predicate: RevenueOver50),
        Spec("first_order_at", "first", Order, null, 0, 0),
        Spec("last_order_at", "last", Order, null, 0, 0),
        Spec("first_event_7d", "first", null, null, Day, 7, window: "7d"),
        Spec("last_view_24h", "last", View, null, Hour, 24, window: "24h", bucket: "1h"),
        Spec("first_sku_30d", "first", Order, "sku", Day, 30, window: "30d"),
        Spec("last_sku_all", "last", null, "sku", 0, 0),
        Spec("last_revenue_7d", "last", Order, "revenue", Day, 7, window: "7d"),
        Spec("distinct_sku_30d", "distinct_count", Order, "sku", Day, 30, window: "30d"),
        Spec("distinct_revenue_all", "distinct_count", null, "revenue", 0, 0),
        Spec("distinct_sku_capped_7d", "distinct_count", null, "sku", Day, 7, window: "7d", maxValues: 2),
        Spec("top_sku_30d", "most_frequent", Order, "sku", Day, 30, window: "30d"),
        Spec("top_sku_capped_30d", "most_frequent", null, "sku", Day, 30, window: "30d", maxValues: 2),
        Spec("top_sku_all", "most_frequent", null, "sku", 0, 0, where: ["sku != \"DD\""], predicate: SkuNotDd),
    ];

    const string DaysSinceLastOrder = "days_since_last_order";

    static CdpOptions Options(string dataDir)
    {
        var o = new CdpOptions
        {
            DataDir = dataDir,
            MaxFrameBodyBytes = 64 * 1024,
            Store = new StoreOptions
            {
                IndexBytes = 1 << 16,
                PageBytes = 1 << 17,
                MemoryBytes = 1 << 20,
                SegmentBytes = 1 << 20,
                MaxProfileBytes = 64 * 1024,
                CheckpointIntervalSeconds = 0,
            },
            Journal = new JournalOptions { PageBytes = 1 << 17, MemoryBytes = 1 << 18, SegmentBytes = 1 << 20, CommitIntervalMs = 0 },
        };
        foreach (var s in Specs)
            o.ComputedTraits[s.Name] = s.Options;
        o.DerivedTraits[DaysSinceLastOrder] = new DerivedTraitOptions { DaysSince = "computed.last_order_at", TimeZone = "UTC" };
        return o;
    }

    // ---------------------------------------------------------------- generated writes

    enum TsMode { None, Absolute, Back, Ahead }

    /// <summary>
    /// One write. The receive clock advances by <see cref="DelayMs"/> first, then up to the next multiple
    /// of <see cref="AlignMs"/> (1: no rounding; a bucket width puts the write exactly on a boundary). The timestamp is none
    /// (receive time), <see cref="TsMs"/> after the scenario's day-aligned origin, or that far before or after
    /// the receive time (a source's clock running ahead).
    /// </summary>
    sealed record Write(int Profile, WriteKind Kind, long DelayMs, long AlignMs, TsMode Mode, long TsMs, string? Event,
        TraitValue? Revenue, TraitValue? Sku, (string Name, TraitValue Value)[] Traits, bool WithEmail, string? MessageId, string? Source)
    {
        public long? Timestamp(long origin, long received) => Mode switch
        {
            TsMode.None => null,
            TsMode.Absolute => origin + TsMs,
            TsMode.Back => received - TsMs,
            _ => received + TsMs,
        };

        public override string ToString()
        {
            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"p{Profile} {Kind} +{DelayMs}ms");
            if (AlignMs > 1)
                sb.Append(CultureInfo.InvariantCulture, $" up to a multiple of {AlignMs}ms");
            sb.Append(CultureInfo.InvariantCulture, $" ts={Mode}");
            if (Mode != TsMode.None)
                sb.Append(CultureInfo.InvariantCulture, $"({TsMs})");
            if (Event is not null)
                sb.Append(CultureInfo.InvariantCulture, $" '{Event}'");
            if (Revenue is { } r)
                sb.Append(CultureInfo.InvariantCulture, $" revenue={Show(r)}");
            if (Sku is { } s)
                sb.Append(CultureInfo.InvariantCulture, $" sku={Show(s)}");
            foreach (var (n, v) in Traits)
                sb.Append(CultureInfo.InvariantCulture, $" {n}={Show(v)}");
            if (WithEmail)
                sb.Append(" +email");
            if (MessageId is not null)
                sb.Append(CultureInfo.InvariantCulture, $" msg={MessageId}");
            if (Source is not null)
                sb.Append(CultureInfo.InvariantCulture, $" source={Source}");
            return sb.ToString();
        }
    }

    /// <summary>Writes, then reads at last receive + Delay, rounded up to a multiple of Align.</summary>
    sealed record Scenario(Write[] Writes, (long Delay, long Align)[] QueryDelays)
    {
        public override string ToString()
            => $"{Writes.Length} writes:\n  " + string.Join("\n  ", Writes.Select((w, i) => $"#{i} {w}"))
               + $"\n  queries at last receive + [{string.Join(", ", QueryDelays.Select(q => q.Align > 1 ? $"{q.Delay} up to a multiple of {q.Align}" : $"{q.Delay}"))}] ms";
    }

    static string Show(TraitValue v) => v.Kind switch
    {
        TraitKind.String => "\"" + v.Text + "\"",
        TraitKind.Double => v.Number.ToString("R", CultureInfo.InvariantCulture) + "d",
        _ => v.ToString(),
    };

    static Gen<long> Long(long lo, long hi, long unit)
        => Gen.Choose((int)(lo / unit), (int)(hi / unit)).Select(x => x * unit);

    static Gen<long> Millis(long lo, long hi)
        => from coarse in Long(lo, hi, Second) from ms in Gen.Choose(0, 999) select coarse + ms;

    static readonly Gen<long> Delay = Gen.Frequency(
        (2, Gen.Constant(0L)),
        (3, Millis(1, 2 * Hour)),
        (4, Millis(2 * Hour, 3 * Day)),
        (1, Millis(3 * Day, 12 * Day)),
        (1, Long(Hour, 2 * Day, Hour)));

    /// <summary>1 (no rounding) or a bucket width, to land exactly on bucket and window boundaries.</summary>
    static readonly Gen<long> Align = Gen.Frequency(
        (6, Gen.Constant(1L)),
        (1, Gen.Elements(Hour, 90 * Minute, 6 * Hour, 12 * Hour, Day)));

    static readonly Gen<(TsMode, long)> Ts = Gen.Frequency(
        (2, Gen.Constant((TsMode.None, 0L))),
        // On the hour or at midnight relative to a day-aligned origin: many equal event times.
        (3, Long(-30 * Day, 90 * Day, 6 * Hour).Select(x => (TsMode.Absolute, x))),
        (1, Long(-10 * Day, 90 * Day, Day).Select(x => (TsMode.Absolute, x))),
        (3, Millis(0, 90 * Day).Select(x => (TsMode.Back, x))),
        (1, Millis(0, 2 * Hour).Select(x => (TsMode.Back, x))),
        (1, Millis(1, 3 * Day).Select(x => (TsMode.Ahead, x))));

    static readonly Gen<TraitValue?> Revenue = Gen.Frequency(
        (2, Gen.Constant<TraitValue?>(null)),
        (4, Gen.Choose(-10, 300).Select(i => (TraitValue?)TraitValue.Int(i))),
        (3, Gen.Choose(-1000, 30000).Select(c => (TraitValue?)TraitValue.Double(c / 100.0))),
        // Integral doubles: the same number as an int for distinct and most frequent values.
        (1, Gen.Elements(40, 50, 60, 120).Select(i => (TraitValue?)TraitValue.Double(i))),
        (1, Gen.Elements("12", "abc").Select(s => (TraitValue?)TraitValue.String(s))),
        (1, Gen.Constant<TraitValue?>(TraitValue.Null)));

    static readonly Gen<TraitValue?> Sku = Gen.Frequency(
        (2, Gen.Constant<TraitValue?>(null)),
        (6, Gen.Elements("A", "B", "C", "DD", "b").Select(s => (TraitValue?)TraitValue.String(s))),
        (1, Gen.Constant<TraitValue?>(TraitValue.Null)));

    static readonly Gen<(string, TraitValue)[]> IdentifyTraits =
        from plan in Gen.Elements<TraitValue?>(null, TraitValue.String("free"), TraitValue.String("pro"), TraitValue.Null)
        from score in Gen.Frequency((1, Gen.Constant<TraitValue?>(null)), (2, Gen.Choose(0, 100).Select(i => (TraitValue?)TraitValue.Int(i))))
        from vip in Gen.Elements<TraitValue?>(null, TraitValue.Bool(true), TraitValue.Bool(false))
        select new[] { ("plan", plan), ("score", score), ("vip", vip) }
            .Where(t => t.Item2 is not null).Select(t => (t.Item1, t.Item2!.Value)).ToArray();

    static Gen<Write> WriteGen(int profiles, bool identities) =>
        from profile in Gen.Choose(0, profiles - 1)
        from identify in Gen.Frequency((1, Gen.Constant(true)), (5, Gen.Constant(false)))
        from delay in Delay
        from align in Align
        from ts in Ts
        from ev in Gen.Frequency((3, Gen.Constant(Order)), (2, Gen.Constant(View)))
        from revenue in Revenue
        from sku in Sku
        from traits in IdentifyTraits
        from email in identities ? Gen.Elements(true, false) : Gen.Constant(false)
        from messageId in identities ? Gen.Frequency((5, Gen.Constant<string?>(null)), (1, Gen.Elements<string?>("m1", "m2", "m3"))) : Gen.Constant<string?>(null)
        from source in identities ? Gen.Elements<string?>(null, null, "crm", "shop") : Gen.Constant<string?>(null)
        select identify
            ? new Write(profile, WriteKind.Identify, delay, align, ts.Item1, ts.Item2, null, null, null, traits, email, messageId, source)
            : new Write(profile, WriteKind.Track, delay, align, ts.Item1, ts.Item2, ev, revenue, sku, [], email, messageId, source);

    static Gen<Scenario> ScenarioGen(int profiles, bool identities, int maxWrites) =>
        from n in Gen.Choose(1, maxWrites)
        from writes in WriteGen(profiles, identities).ArrayOf(n)
        from queries in Gen.Frequency(
                (1, Gen.Constant(0L)),
                (3, Millis(0, 2 * Hour)),
                (4, Millis(0, 10 * Day)),
                (2, Millis(10 * Day, 45 * Day)))
            .Zip(Align)
            .ArrayOf(4)
        select new Scenario(writes, queries);

    /// <summary>Shrinks by dropping chunks of writes (halves down to single writes) and query times.</summary>
    static IEnumerable<Scenario> Shrink(Scenario s)
    {
        for (int chunk = s.Writes.Length / 2; chunk >= 1; chunk /= 2)
            for (int start = 0; start + chunk <= s.Writes.Length; start += chunk)
                yield return s with { Writes = [.. s.Writes[..start], .. s.Writes[(start + chunk)..]] };
        if (s.QueryDelays.Length > 1)
            for (int i = 0; i < s.QueryDelays.Length; i++)
                yield return s with { QueryDelays = [.. s.QueryDelays[..i], .. s.QueryDelays[(i + 1)..]] };
        for (int i = 0; i < s.Writes.Length; i++)
            if (s.Writes[i].DelayMs > 0 || s.Writes[i].AlignMs > 1)
            {
                var w = s.Writes.ToArray();
                w[i] = w[i] with { DelayMs = 0, AlignMs = 1 };
                yield return s with { Writes = w };
            }
    }

    static Config PropertyConfig(int tests) => Config.QuickThrowOnFailure.WithMaxTest(tests).WithStartSize(50).WithEndSize(50);

    // ---------------------------------------------------------------- the engine under test

    sealed class ManualClock(long nowMs) : TimeProvider
    {
        long now = nowMs;

        public long Now
        {
            get => Volatile.Read(ref now);
            set => Volatile.Write(ref now, value);
        }

        public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(Now);
    }

    /// <summary>A real engine in a temporary folder, deleted on dispose.</summary>
    sealed class Harness : IAsyncDisposable
    {
        public readonly string Dir = TestServer.NewDataDir();
        public readonly ManualClock Clock = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", CultureInfo.InvariantCulture).ToUnixTimeMilliseconds());
        public readonly ProfileEngine Engine;
        public readonly EngineSession Session;

        /// <param name="schema">Contents of a schema.log to start from: the name ids of the engine whose journal will be replayed.</param>
        public Harness(byte[]? schema = null)
        {
            if (schema is not null)
                File.WriteAllBytes(Path.Combine(Dir, "schema.log"), schema);
            Engine = ProfileEngine.Open(Options(Dir), Clock, NullLogger.Instance);
            Session = Engine.NewSession();
        }

        public async ValueTask DisposeAsync()
        {
            Session.Dispose();
            await Engine.DisposeAsync();
            TestServer.TryDelete(Dir);
        }
    }

    /// <summary>What the naive model needs of a write that went through: when it was received and its event time.</summary>
    sealed record Sent(Write Write, long Received, long? Timestamp)
    {
        public long EffectiveTime => Math.Min(Timestamp ?? Received, Received);
    }

    /// <summary>Runs the writes of <paramref name="s"/> from a fresh day-aligned origin after the clock; returns what was sent.</summary>
    static List<Sent> Apply(Harness h, Scenario s, string prefix, out long origin)
    {
        origin = (FloorDiv(h.Clock.Now, Day) + 120) * Day;
        h.Clock.Now = origin;
        var sent = new List<Sent>();
        var command = new WriteCommand();
        foreach (var w in s.Writes)
        {
            h.Clock.Now = AlignUp(h.Clock.Now + w.DelayMs, w.AlignMs);
            long received = h.Clock.Now;
            long? ts = w.Timestamp(origin, received);
            command.Reset();
            command.Kind = w.Kind;
            command.AddIdentifier("user_id", $"{prefix}-p{w.Profile}", "userId");
            if (w.WithEmail)
                command.AddIdentifier("email", $"{prefix}-p{w.Profile}@example.com", "email");
            command.Timestamp = ts;
            command.MessageId = w.MessageId is null ? null : $"{prefix}-{w.MessageId}";
            command.Source = w.Source;
            if (w.Kind == WriteKind.Track)
            {
                command.Event = w.Event;
                if (w.Revenue is { } revenue)
                    command.AddProperty("revenue", revenue, "properties.revenue");
                if (w.Sku is { } sku)
                    command.AddProperty("sku", sku, "properties.sku");
            }
            foreach (var (name, value) in w.Traits)
                command.AddTrait(name, value, "traits." + name);
            var result = h.Session.Write(command);
            if (!result.Duplicate)
                sent.Add(new Sent(w, received, ts));
        }
        return sent;
    }

    // ---------------------------------------------------------------- the naive model

    static long FloorDiv(long a, long b) => a / b - (a % b < 0 ? 1 : 0);

    static long AlignUp(long t, long unit) => FloorDiv(t + unit - 1, unit) * unit;

    static double AsDouble(TraitValue v) => v.Kind == TraitKind.Int ? v.Integer : v.Number;

    static TraitValue Normalize(TraitValue v)
        => v.Kind == TraitKind.Double && double.IsInteger(v.Number) && Math.Abs(v.Number) < 1L << 53 ? TraitValue.Int((long)v.Number) : v;

    static byte[] Encode(TraitValue v)
    {
        var buffer = new byte[2048];
        int n = ComputedState.EncodeValue(v, buffer);
        return buffer[..n];
    }

    /// <summary>A value as text for comparison: kind and exact payload.</summary>
    static string Canonical(TraitValue v) => v.Kind switch
    {
        TraitKind.Int => "int " + v.Integer.ToString(CultureInfo.InvariantCulture),
        TraitKind.Double => "double " + v.Number.ToString("R", CultureInfo.InvariantCulture),
        TraitKind.Timestamp => "timestamp " + v.Integer.ToString(CultureInfo.InvariantCulture),
        TraitKind.String => "string \"" + v.Text + "\"",
        _ => v.Kind.ToString(),
    };

    static string Canonical(in TraitEntry e) => e.Kind switch
    {
        TraitKind.Int => "int " + e.Integer.ToString(CultureInfo.InvariantCulture),
        TraitKind.Double => "double " + e.Number.ToString("R", CultureInfo.InvariantCulture),
        TraitKind.Timestamp => "timestamp " + e.Integer.ToString(CultureInfo.InvariantCulture),
        TraitKind.String => "string \"" + Encoding.UTF8.GetString(e.Utf8) + "\"",
        _ => e.Kind.ToString(),
    };

    /// <summary>An expected value: exact text, or a number compared with a relative tolerance.</summary>
    readonly record struct Expected(string? Exact, double? Approx, bool DoubleKindRequired)
    {
        public static Expected Of(TraitValue v) => new(Canonical(v), null, false);
        public static Expected Number(double d)
            => Of(double.IsInteger(d) && Math.Abs(d) < 1L << 53 ? TraitValue.Int((long)d) : TraitValue.Double(d));
        public override string ToString() => Exact ?? $"~{Approx!.Value.ToString("R", CultureInfo.InvariantCulture)}";
    }

    /// <summary>The events a trait holds: selected, with a usable value, admitted at their write (window, value cap).</summary>
    static List<(Sent Event, long Bucket, TraitValue? Value)> Admitted(TraitSpec d, IReadOnlyList<Sent> sent, int profile)
    {
        var admitted = new List<(Sent, long, TraitValue?)>();
        foreach (var s in sent)
        {
            var w = s.Write;
            if (w.Profile != profile || w.Kind != WriteKind.Track)
                continue;
            if (d.Event is not null && d.Event != w.Event)
                continue;
            if (!d.Where(w))
                continue;
            long bucket = d.Windowed ? FloorDiv(s.EffectiveTime, d.BucketMs) : 0;
            if (d.Windowed && bucket <= FloorDiv(s.Received, d.BucketMs) - d.Buckets)
                continue; // already out of the window when it arrived
            TraitValue? value = null;
            if (d.Property is not null)
            {
                var v = d.Property == "revenue" ? w.Revenue : w.Sku;
                if (d.Function.IsNumeric())
                {
                    if (v is not { Kind: TraitKind.Int or TraitKind.Double })
                        continue;
                }
                else if (v is not { } present || present.Kind == TraitKind.Null)
                    continue;
                value = d.Function.IsNumeric() ? v : Normalize(v!.Value);
            }
            if (d.Function.IsKeyedByValue())
            {
                // distinct_count / most_frequent track at most MaxValues values among the live cells.
                var live = admitted.Where(a => !d.Windowed || a.Item2 > FloorDiv(s.Received, d.BucketMs) - d.Buckets)
                    .Select(a => Canonical(a.Item3!.Value)).ToHashSet();
                if (!live.Contains(Canonical(value!.Value)) && live.Count >= d.MaxValues)
                    continue;
            }
            admitted.Add((s, bucket, value));
        }
        return admitted;
    }

    static bool InWindow(TraitSpec d, long bucket, long now) => !d.Windowed || bucket > FloorDiv(now, d.BucketMs) - d.Buckets;

    /// <summary>Every computed and derived value of one profile at <paramref name="now"/>, recomputed from the events sent.</summary>
    static Dictionary<string, Expected> Naive(IReadOnlyList<Sent> sent, int profile, long now, out long nextChange)
    {
        var result = new Dictionary<string, Expected>();
        nextChange = long.MaxValue;
        long? lastOrder = null;
        foreach (var d in Specs)
        {
            var admitted = Admitted(d, sent, profile);
            if (d.Windowed)
                foreach (var a in admitted.Where(a => InWindow(d, a.Bucket, now)))
                    nextChange = Math.Min(nextChange, (a.Bucket + d.Buckets) * d.BucketMs);
            // In journal order, as the engine merges them.
            var inWindow = admitted.Where(a => InWindow(d, a.Bucket, now)).ToList();
            var numbers = inWindow.Select(a => a.Value is { } v ? AsDouble(v) : 0).ToList();
            switch (d.Function)
            {
                case ComputedFunction.Count:
                    result[d.Name] = Expected.Of(TraitValue.Int(inWindow.Count));
                    break;
                case ComputedFunction.Sum:
                    result[d.Name] = new Expected(null, numbers.Sum(), false);
                    break;
                case ComputedFunction.Average:
                    if (numbers.Count > 0)
                        result[d.Name] = new Expected(null, numbers.Sum() / numbers.Count, true);
                    break;
                case ComputedFunction.Min when numbers.Count > 0:
                    result[d.Name] = Expected.Number(numbers.Min());
                    break;
                case ComputedFunction.Max when numbers.Count > 0:
                    result[d.Name] = Expected.Number(numbers.Max());
                    break;
                case ComputedFunction.First or ComputedFunction.Last when inWindow.Count > 0:
                {
                    // first: the earliest event time, the earliest write among equals; last: the latest, the latest write.
                    var pick = inWindow[0];
                    foreach (var a in inWindow.Skip(1))
                        if (d.Function == ComputedFunction.First ? a.Event.EffectiveTime < pick.Event.EffectiveTime : a.Event.EffectiveTime >= pick.Event.EffectiveTime)
                            pick = a;
                    result[d.Name] = Expected.Of(d.Property is null ? TraitValue.Timestamp(pick.Event.EffectiveTime) : pick.Value!.Value);
                    if (d.Name == "last_order_at")
                        lastOrder = pick.Event.EffectiveTime;
                    break;
                }
                case ComputedFunction.DistinctCount:
                    result[d.Name] = Expected.Of(TraitValue.Int(inWindow.Select(a => Canonical(a.Value!.Value)).Distinct().Count()));
                    break;
                case ComputedFunction.MostFrequent when inWindow.Count > 0:
                {
                    var best = inWindow.GroupBy(a => Canonical(a.Value!.Value))
                        .Select(g => (Value: g.First().Value!.Value, Count: g.Count()))
                        .OrderByDescending(g => g.Count)
                        .ThenBy(g => Encode(g.Value), Comparer<byte[]>.Create((x, y) => x.AsSpan().SequenceCompareTo(y)))
                        .First();
                    result[d.Name] = Expected.Of(best.Value);
                    break;
                }
            }
        }
        if (lastOrder is { } last)
        {
            result[DaysSinceLastOrder] = Expected.Of(TraitValue.Int(FloorDiv(now, Day) - FloorDiv(last, Day)));
            nextChange = Math.Min(nextChange, (FloorDiv(now, Day) + 1) * Day);
        }
        return result;
    }

    static List<string> Compare(Dictionary<string, Expected> expected, ProfileView view, ComputedTraitCatalog catalog)
    {
        var problems = new List<string>();
        var actual = new Dictionary<string, (string Text, TraitKind Kind, double? Number)>();
        var r = view.ComputedValues;
        while (r.Next(out var e))
        {
            double? number = e.Kind switch { TraitKind.Int => e.Integer, TraitKind.Double => e.Number, _ => null };
            actual[catalog.NameOf(e.NameId)] = (Canonical(e), e.Kind, number);
        }
        foreach (var name in expected.Keys.Union(actual.Keys).Order(StringComparer.Ordinal))
        {
            bool hasE = expected.TryGetValue(name, out var x);
            bool hasA = actual.TryGetValue(name, out var a);
            if (!hasE || !hasA)
            {
                problems.Add($"{name}: expected {(hasE ? x.ToString() : "no value")}, engine has {(hasA ? a.Text : "no value")}");
                continue;
            }
            bool ok = x.Exact is not null
                ? x.Exact == a.Text
                : a.Number is { } n && (!x.DoubleKindRequired || a.Kind == TraitKind.Double)
                  && Math.Abs(n - x.Approx!.Value) <= 1e-9 * Math.Max(1, Math.Max(Math.Abs(n), Math.Abs(x.Approx.Value)));
            if (!ok)
                problems.Add($"{name}: expected {x}, engine has {a.Text}");
        }
        return problems;
    }

    // ---------------------------------------------------------------- the properties

    [Fact]
    public async Task Computed_traits_equal_a_naive_recomputation_and_NextChange_the_next_window_change()
    {
        await using var h = new Harness();
        foreach (var s in Specs)
        {
            // The naive model's windows are the engine's.
            var d = h.Engine.Computed.Traits[h.Engine.Computed.IndexOf(s.Name)];
            Assert.Equal((s.BucketMs, s.Buckets, s.Function, s.MaxValues), (d.BucketMs, d.BucketCount, d.Function, d.MaxValues));
        }
        int run = 0;
        var property = Prop.ForAll(Arb.From(ScenarioGen(profiles: 1, identities: false, maxWrites: 40), Shrink), scenario =>
        {
            string prefix = $"naive{run++}";
            var sent = Apply(h, scenario, prefix, out _);
            long lastReceive = h.Clock.Now;
            var problems = new List<string>();
            // The generated read times, and for each the instant its next change is due and 1 ms before.
            var times = new Queue<(long At, bool Follow)>(scenario.QueryDelays.Select(q => (AlignUp(lastReceive + q.Delay, q.Align), true)));
            while (times.TryDequeue(out var q))
            {
                long now = q.At;
                string at = $"at last receive + {now - lastReceive} ms";
                h.Clock.Now = now;
                var view = h.Session.GetProfile("user_id", $"{prefix}-p0", null)
                    ?? throw new InvalidOperationException("the profile is missing");
                var expected = Naive(sent, 0, now, out long expectedNext);
                foreach (var p in Compare(expected, view, h.Engine.Computed))
                    problems.Add($"{at}: {p}");
                long next = h.Engine.Computed.NextChange(view.Record, now);
                if (next != expectedNext)
                    problems.Add($"{at}: NextChange expected {Show(expectedNext, lastReceive)}, engine has {Show(next, lastReceive)}");
                if (q.Follow && expectedNext != long.MaxValue)
                {
                    times.Enqueue((expectedNext - 1, false));
                    times.Enqueue((expectedNext, false));
                }
            }
            if (problems.Count > 0)
                throw new Xunit.Sdk.XunitException(string.Join("\n", problems));
        });
        Check.One(PropertyConfig(200), property);
    }

    static string Show(long instant, long lastReceive)
        => instant == long.MaxValue ? "never" : $"{instant} (last receive + {instant - lastReceive} ms)";

    [Fact]
    public async Task Journal_replay_into_a_fresh_engine_rebuilds_the_live_records_byte_for_byte()
    {
        var property = Prop.ForAll(Arb.From(ScenarioGen(profiles: 4, identities: true, maxWrites: 60), Shrink), scenario =>
        {
            ReplayCase(scenario).AsTask().GetAwaiter().GetResult();
        });
        Check.One(PropertyConfig(60), property);
        await Task.CompletedTask;
    }

    static async ValueTask ReplayCase(Scenario scenario)
    {
        var live = new Dictionary<int, byte[]>();
        var entries = new List<(long Address, JournalEntry Entry)>();
        byte[] schema;
        await using (var a = new Harness())
        {
            var sent = Apply(a, scenario, "r", out _);
            foreach (int p in sent.Select(s => s.Write.Profile).Distinct())
                live[p] = (a.Session.GetProfile("user_id", $"r-p{p}", null) ?? throw new InvalidOperationException($"profile p{p} is missing")).Record.ToArray();
            a.Engine.Journal.CommitNow();
            foreach (var (address, bytes) in a.Engine.Journal.Read(a.Engine.Journal.BeginAddress, a.Engine.Journal.TailAddress))
                entries.Add((address, Cdp.Server.Journal.SealedEntry.Open(bytes, a.Engine.Keys)!));
            Assert.Equal(sent.Count, entries.Count);
            using var file = new FileStream(Path.Combine(a.Dir, "schema.log"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            schema = new byte[file.Length];
            file.ReadExactly(schema);
        }
        // A fresh folder (no store, checkpoint or journal) with the live engine's name registry, as a
        // recovery has it: name ids are assigned in the order names are first interned, which the
        // journal does not record (a write refused after validation has interned its names too), so
        // only the registry file makes them the same in general.
        await using var b = new Harness(schema);
        foreach (var (address, e) in entries)
            b.Session.Replay(address, e);
        var problems = new List<string>();
        foreach (var (p, expected) in live.OrderBy(x => x.Key))
        {
            var view = b.Session.GetProfile("user_id", $"r-p{p}", null);
            if (view is null)
                problems.Add($"p{p}: missing after replay");
            else if (!view.Record.SequenceEqual(expected))
                problems.Add($"p{p}: replayed record differs from live:\n    live   {Convert.ToHexString(expected)}\n    replay {Convert.ToHexString(view.Record)}");
        }
        if (problems.Count > 0)
            throw new Xunit.Sdk.XunitException(string.Join("\n", problems));
    }
}
