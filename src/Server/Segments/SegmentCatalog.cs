using System.Text.Json;
using Cdp.Protocol;
using Cdp.Server.Computed;
using Cdp.Server.Engine;
using Cdp.Server.Rules;
using Cdp.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Cdp.Server.Segments;

/// <summary>
/// Owns the segments: their definitions (from config at start and from the API at run time, kept in
/// <c>segments.json</c> in the data folder), the compiled set writes evaluate, the members, the
/// backfills of new and changed rules and the time-based scheduler.
/// </summary>
public sealed class SegmentCatalog : IDisposable
{
    /// <summary>Most segments a server holds.</summary>
    public const int MaxSegments = 100_000;
    /// <summary>Longest segment name.</summary>
    public const int MaxNameLength = 128;

    readonly ProfileEngine engine;
    readonly ILogger logger;
    readonly string path;
    readonly Lock defineGate = new();
    readonly CancellationTokenSource stopping = new();
    readonly List<Task> backfills = [];
    EngineSession? schedulerSession;
    SegmentSet current = SegmentSet.Empty;
    uint nextId = 1;
    long stamp;
    int disposed;
    int stopped;

    internal SegmentCatalog(ProfileEngine engine, IReadOnlyDictionary<string, string> configured, ILogger logger)
    {
        this.engine = engine;
        this.logger = logger;
        path = Path.Combine(engine.DataDir, "segments.log");
        Scheduler = new TransitionScheduler(engine.Time, CheckOnTime, logger);
        Load(configured);
    }

    /// <summary>Slots of the traits rules read.</summary>
    public RuleFieldSlots Fields { get; } = new();

    /// <summary>The segments in force.</summary>
    public SegmentSet Current => Volatile.Read(ref current);

    /// <summary>Time-based checks.</summary>
    public TransitionScheduler Scheduler { get; }

    /// <summary>Stored segments whose rule no longer compiles (a trait's declared type changed, say), with the error.</summary>
    public IReadOnlyDictionary<string, string> Invalid => invalid;
    readonly Dictionary<string, string> invalid = new(StringComparer.Ordinal);
    readonly Dictionary<string, StoredSegment> invalidStored = new(StringComparer.Ordinal);

    /// <summary>What the type checker knows: declared and written traits, computed traits, segments.</summary>
    public RuleSchema BuildSchema(IReadOnlyCollection<string> segments)
    {
        var traits = new Dictionary<string, RuleType>(StringComparer.Ordinal);
        var computedNames = new HashSet<string>(engine.Computed.Traits.Select(t => t.StorageName), StringComparer.Ordinal);
        foreach (var name in engine.Schema.Names)
            if (!name.StartsWith(EngineSession.SourcePrefix, StringComparison.Ordinal) && !name.StartsWith(Cdp.Server.Schema.SchemaRegistry.ConsentPrefix, StringComparison.Ordinal)
                && !computedNames.Contains(name))
                traits[name] = RuleType.Any;
        foreach (var (name, type) in engine.Options.Traits.Declared)
            traits[name] = type.ToLowerInvariant() switch
            {
                "string" => RuleType.String,
                "number" => RuleType.Number,
                "bool" => RuleType.Bool,
                "timestamp" => RuleType.Timestamp,
                "list" => RuleType.List,
                _ => RuleType.Any,
            };
        var computed = new Dictionary<string, RuleType>(StringComparer.Ordinal);
        foreach (var t in engine.Computed.Traits)
            computed[t.Name] = t.Function switch
            {
                ComputedFunction.Count or ComputedFunction.Sum or ComputedFunction.DistinctCount or ComputedFunction.Average
                    or ComputedFunction.Min or ComputedFunction.Max => RuleType.Number,
                ComputedFunction.First or ComputedFunction.Last => t.Property is null ? RuleType.Timestamp : RuleType.Any,
                _ => RuleType.Any,
            };
        foreach (var d in engine.Computed.Derived)
            computed[d.Name] = RuleType.Number;
        return new RuleSchema(traits, computed, engine.Purposes.Names, segments);
    }

    /// <summary>
    /// Defines or redefines <paramref name="name"/>. Throws <see cref="RuleException"/> for a bad rule
    /// and <see cref="EngineException"/> for a bad name or a cycle; nothing changes then. The new rule
    /// is in force for writes at once; existing profiles are evaluated by a background backfill.
    /// </summary>
    public (Segment Segment, bool Created) Define(string name, string rule)
    {
        CheckName(name);
        lock (defineGate)
        {
            var set = Current;
            set.ByName.TryGetValue(name, out var previous);
            if (previous is null && set.All.Length >= MaxSegments)
                throw EngineException.BadRequest(ErrorCode.TooMany, $"at most {MaxSegments} segments can be defined.", "name");
            var others = set.ByName.Where(p => p.Key != name).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            var compiled = Compile(rule, BuildSchema(others.Keys), others);
            if (previous is not null && previous.Rule == rule)
                return (previous, false);
            CheckCycle(name, previous?.Id, compiled, set);
            long now = engine.NowUnixMs();
            var segment = NewSegment(previous?.Id ?? nextId++, name, rule, compiled, previous?.Members ?? new SegmentMembers(), previous?.CreatedAt ?? now, now);
            var list = set.All.Where(s => s.Name != name).Append(segment).ToList();
            // Durable before it is in force: a write evaluated against it must find it after a restart.
            Append(new StoredSegment("define", segment.Id, name, rule, segment.CreatedAt, segment.UpdatedAt, false));
            Publish(list);
            invalid.Remove(name);
            invalidStored.Remove(name);
            StartBackfill(segment);
            return (segment, previous is null);
        }
    }

    /// <summary>Deletes a segment; false when there is none. Refused while another segment reads it.</summary>
    public bool Delete(string name)
    {
        lock (defineGate)
        {
            var set = Current;
            if (!set.ByName.TryGetValue(name, out var segment))
            {
                if (!invalid.Remove(name))
                    return false;
                invalidStored.Remove(name);
                Append(new StoredSegment("delete", 0, name, "", 0, 0, false));
                return true;
            }
            var readers = set.All.Where(s => s.Compiled.SegmentsRead.Contains((int)segment.Id)).Select(s => s.Name).ToArray();
            if (readers.Length > 0)
                throw new EngineException(Status.Conflict, ErrorCode.InUse, $"segment '{name}' is read by {string.Join(", ", readers.Select(r => "'" + r + "'"))}; change or delete those first.");
            Append(new StoredSegment("delete", segment.Id, name, "", 0, 0, false));
            Publish([.. set.All.Where(s => s != segment)]);
            if (engine.SegmentFeed.HasSubscribers)
                PublishExits(segment);
            return true;
        }
    }

    void PublishExits(Segment segment)
    {
        long now = engine.NowUnixMs();
        Span<ulong> page = new ulong[1024];
        ulong after = 0;
        int n;
        while ((n = segment.Members.Page(after, page)) > 0)
        {
            foreach (var id in page[..n])
                engine.SegmentFeed.Publish(new SegmentChange(id, segment.Name, false, SegmentChangeReason.SegmentDeleted, now));
            after = page[n - 1];
        }
    }

    static void CheckName(string name)
    {
        if (name.Length is 0 or > MaxNameLength || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            throw EngineException.BadRequest(ErrorCode.InvalidName,
                $"a segment name is 1-{MaxNameLength} characters of letters, digits, '_', '-' and '.'; '{(name.Length > 40 ? name[..40] + "..." : name)}' is not.", "name");
    }

    CompiledRule Compile(string rule, RuleSchema schema, IReadOnlyDictionary<string, Segment> known)
    {
        var tree = RuleLanguage.Parse(rule, schema);
        var compiler = new RuleCompiler(engine.Schema, engine.Computed, Fields, n => known.TryGetValue(n, out var s) ? (int)s.Id : -1);
        return compiler.Compile(tree);
    }

    Segment NewSegment(uint id, string name, string rule, CompiledRule compiled, SegmentMembers members, long createdAt, long updatedAt)
    {
        var segment = new Segment(id, name, rule, compiled, members, createdAt, updatedAt);
        segment.TrueWhenEmpty = TrueWhenEmpty(segment);
        return segment;
    }

    static void CheckCycle(string name, uint? id, CompiledRule compiled, SegmentSet set)
    {
        if (id is not { } self)
            return;
        // A new segment cannot be read by anyone yet; a changed one must not come to read itself.
        var seen = new HashSet<uint>();
        var stack = new Stack<uint>(compiled.SegmentsRead.Select(r => (uint)r));
        while (stack.Count > 0)
        {
            uint s = stack.Pop();
            if (s == self)
                throw EngineException.BadRequest(ErrorCode.InvalidRule, $"segment '{name}' would read itself through in_segment.", "rule");
            if (!seen.Add(s) || !set.RankOfId.TryGetValue(s, out int rank))
                continue;
            foreach (var r in set.All[rank].Compiled.SegmentsRead)
                stack.Push((uint)r);
        }
    }

    void Publish(List<Segment> segments)
    {
        var set = new SegmentSet(segments);
        Volatile.Write(ref current, set);
    }

    bool TrueWhenEmpty(Segment s)
    {
        // A profile with no traits and no events, as a new profile is before its first write: counts
        // and sums read 0 there, so "computed.orders_7d = 0" holds for it.
        var empty = new Cdp.Server.Profiles.ProfileRecordBuilder().Build(0, 0, 0, -1).ToArray();
        var view = new ProfileView(engine.Schema, engine.IdentifierTypes, engine.Computed, engine.SharedValues, engine.Time);
        view.Set(empty, empty.Length, 0);
        var ctx = new RuleContext(Fields, engine.Computed, engine.SharedValues);
        ctx.Begin(0, empty, empty.Length, engine.NowUnixMs(), view.AllComputedAt, _ => false);
        return s.Compiled.Root.Holds(ctx);
    }

    void StartBackfill(Segment segment)
    {
        segment.Backfilling = true;
        segment.Settled = false;
        segment.BackfillFinishedStamp = 0;
        var task = Task.Run(() => Backfill(segment));
        lock (backfills)
        {
            backfills.RemoveAll(t => t.IsCompleted);
            backfills.Add(task);
        }
    }

    /// <summary>
    /// Evaluates <paramref name="segment"/> over every profile that existed when it was published,
    /// each under its stripe. Writes meanwhile evaluate it themselves (it is in the set), so a profile
    /// is never missed; a membership changes only on a real change, so none is counted twice.
    /// </summary>
    void Backfill(Segment segment)
    {
        try
        {
            ulong last = engine.LastMasterId;
            Interlocked.Exchange(ref segment.BackfillTotal, (long)last);
            Interlocked.Exchange(ref segment.BackfillDone, 0);
            using var session = engine.NewSession();
            for (ulong id = 1; id <= last; id++)
            {
                if (stopping.IsCancellationRequested || !Current.ByName.TryGetValue(segment.Name, out var now) || now != segment)
                    return;
                int stripe = session.EnterProfileStripe(id);
                try
                {
                    session.Segments.Evaluate(id, EvaluationScope.One, engine.NowUnixMs(), SegmentChangeReason.Backfill, one: segment);
                }
                finally
                {
                    engine.Locks.Exit(stripe);
                }
                Interlocked.Increment(ref segment.BackfillDone);
            }
            segment.BackfillFinishedStamp = Interlocked.Increment(ref stamp);
            segment.Backfilling = false;
            logger.LogInformation("Segment {Name} backfilled over {Count} profiles: {Members} members.", segment.Name, last, segment.Members.Count);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Backfill of segment {Name} failed; it is retried at the next start.", segment.Name);
        }
    }

    /// <summary>The current stamp; read by a checkpoint just before its snapshot starts.</summary>
    internal long CheckpointStamp => Interlocked.Read(ref stamp);

    /// <summary>Waits for running backfills (tests and shutdown).</summary>
    public Task WaitForBackfillsAsync()
    {
        lock (backfills)
            return Task.WhenAll(backfills.ToArray());
    }

    void CheckOnTime(ulong master, long due)
    {
        var session = schedulerSession ??= engine.NewSession();
        int stripe = session.EnterProfileStripe(master);
        try
        {
            long now = engine.NowUnixMs();
            var entries = new List<(uint, long)>();
            long stored = session.ReadMemberships(master, entries);
            // A later write moved the check (and queued the new time), or the profile is gone.
            if (stored <= 0 || stored > now)
                return;
            session.Segments.Evaluate(master, EvaluationScope.Time, now, SegmentChangeReason.Time);
        }
        finally
        {
            engine.Locks.Exit(stripe);
        }
    }

    /// <summary>
    /// After the store is recovered: fills every segment's members and the scheduler from the stored
    /// memberships of profiles 1..<paramref name="lastMasterId"/>.
    /// </summary>
    internal void LoadMemberships(EngineSession session, ulong lastMasterId)
    {
        var set = Current;
        if (set.All.Length == 0)
            return;
        var entries = new List<(uint Segment, long Since)>();
        for (ulong id = 1; id <= lastMasterId; id++)
        {
            long next = session.ReadMemberships(id, entries);
            if (next < 0)
                continue;
            foreach (var (segment, _) in entries)
                if (set.RankOfId.TryGetValue(segment, out int rank))
                    set.All[rank].Members.Add(id);
            if (next > 0)
                Scheduler.Schedule(id, next);
        }
    }

    /// <summary>Once recovery is done: starts the scheduler and re-runs every backfill the store on disk may not hold.</summary>
    internal void Start()
    {
        Scheduler.Start();
        foreach (var s in Current.All)
            if (!s.Settled)
                StartBackfill(s);
    }

    /// <summary>
    /// A checkpoint for which <see cref="CheckpointStamp"/> gave <paramref name="checkpointStamp"/> before
    /// it started completed: backfills finished before then are in the store on disk, so they need not
    /// run again after a restart. A stamp, not a clock: two events in one millisecond stay ordered.
    /// </summary>
    internal void OnCheckpoint(long checkpointStamp)
    {
        lock (defineGate)
        {
            foreach (var s in Current.All)
                if (!s.Settled && !s.Backfilling && s.BackfillFinishedStamp != 0 && s.BackfillFinishedStamp <= checkpointStamp)
                {
                    Append(new StoredSegment("settled", s.Id, s.Name, "", 0, 0, true));
                    s.Settled = true;
                }
        }
    }

    /// <summary>One line of <c>segments.log</c>: a definition, a deletion, or a backfill made durable by a checkpoint.</summary>
    sealed record StoredSegment(string Op, uint Id, string Name, string Rule, long CreatedAt, long UpdatedAt, bool Settled);

    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
    FileStream? log;
    int logLines;

    /// <summary>
    /// Reads <c>segments.log</c> (one JSON line per change, appended and flushed before the change is
    /// in force, so defining a segment costs one small append however many exist), compiles what it
    /// holds, applies the configured segments and rewrites the log compactly.
    /// </summary>
    void Load(IReadOnlyDictionary<string, string> configured)
    {
        var stored = new Dictionary<string, StoredSegment>(StringComparer.Ordinal);
        if (File.Exists(path))
        {
            var lines = File.ReadAllLines(path);
            for (int i = 0; i < lines.Length; i++)
            {
                if (lines[i].Length == 0)
                    continue;
                StoredSegment? line;
                try
                {
                    line = JsonSerializer.Deserialize<StoredSegment>(lines[i], Json);
                }
                catch (JsonException e)
                {
                    // A torn last line is an append cut short by a crash: its change was never in force.
                    if (i == lines.Length - 1)
                        break;
                    throw new InvalidDataException($"{path} line {i + 1} is unreadable ({e.Message}). Restore the file from a backup.", e);
                }
                if (line is null)
                    continue;
                if (line.Op != "next")
                    nextId = Math.Max(nextId, line.Id + 1);
                switch (line.Op)
                {
                    case "define":
                        stored[line.Name] = line;
                        break;
                    case "delete":
                        stored.Remove(line.Name);
                        break;
                    case "settled":
                        if (stored.TryGetValue(line.Name, out var d) && d.Id == line.Id)
                            stored[line.Name] = d with { Settled = true };
                        break;
                    case "next":
                        // Ids of deleted segments are never given again (stored memberships may still name them).
                        nextId = Math.Max(nextId, line.Id);
                        break;
                }
            }
        }
        var known = new Dictionary<string, Segment>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        var schema = BuildSchema(names);
        // In id order, so a segment is compiled after the segments it reads (they were defined first).
        foreach (var s in stored.Values.OrderBy(s => s.Id))
        {
            try
            {
                var compiled = Compile(s.Rule, schema, known);
                known[s.Name] = NewSegment(s.Id, s.Name, s.Rule, compiled, new SegmentMembers(), s.CreatedAt, s.UpdatedAt);
                known[s.Name].Settled = s.Settled;
                names.Add(s.Name);
            }
            catch (RuleException e)
            {
                invalid[s.Name] = e.Message;
                invalidStored[s.Name] = s;
                logger.LogError("Segment {Name} no longer compiles and is not evaluated: {Error}. Redefine or delete it.", s.Name, e.Message);
            }
        }
        foreach (var (name, rule) in configured.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            CheckName(name);
            known.TryGetValue(name, out var existing);
            if (existing?.Rule == rule)
                continue;
            CompiledRule compiled;
            try
            {
                compiled = Compile(rule, schema, known);
            }
            catch (RuleException e)
            {
                throw new InvalidOperationException($"Configuration error: Segments:{name}: {e.Message}", e);
            }
            long now = engine.NowUnixMs();
            known[name] = NewSegment(existing?.Id ?? nextId++, name, rule, compiled, new SegmentMembers(), existing?.CreatedAt ?? now, now);
            names.Add(name);
            invalid.Remove(name);
            invalidStored.Remove(name);
        }
        Publish([.. known.Values]);
        Rewrite();
    }

    /// <summary>Writes the log anew with one line per segment (to a temporary file, flushed, then renamed over the old one).</summary>
    void Rewrite()
    {
        log?.Dispose();
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false));
            writer.WriteLine(JsonSerializer.Serialize(new StoredSegment("next", nextId, "", "", 0, 0, false), Json));
            foreach (var s in Current.All.OrderBy(s => s.Id))
                writer.WriteLine(JsonSerializer.Serialize(new StoredSegment("define", s.Id, s.Name, s.Rule, s.CreatedAt, s.UpdatedAt, s.Settled), Json));
            foreach (var s in invalidStored.Values)
                writer.WriteLine(JsonSerializer.Serialize(s, Json));
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
        DirectorySync.Flush(Path.GetDirectoryName(path)!);
        log = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        logLines = Current.All.Length + invalidStored.Count;
    }

    void Append(StoredSegment line)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(line, Json) + "\n");
        log!.Write(bytes);
        log.Flush(flushToDisk: true);
        // Compacted once it holds mostly superseded lines.
        if (++logLines > 1000 && logLines > 4 * (Current.All.Length + 1))
            Rewrite();
    }

    /// <summary>
    /// Stops backfills and time checks (before the final checkpoint, which may still record settled
    /// backfills in the log); <see cref="Dispose"/> then closes the log.
    /// </summary>
    public void Stop()
    {
        if (Interlocked.Exchange(ref stopped, 1) != 0)
            return;
        stopping.Cancel();
        Scheduler.Dispose();
        try
        {
            WaitForBackfillsAsync().Wait(TimeSpan.FromSeconds(30));
        }
        catch (AggregateException)
        {
        }
        schedulerSession?.Dispose();
    }

    /// <summary>Stops everything and closes the log.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
            return;
        Stop();
        log?.Dispose();
        stopping.Dispose();
    }
}
