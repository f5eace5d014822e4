using Cdp.Server.Computed;
using System.Collections.Concurrent;
using Cdp.Protocol;
using Cdp.Server.Hosting;
using Cdp.Server.Identity;
using Cdp.Server.Journal;
using Cdp.Server.Matching;
using Cdp.Server.Profiles;
using Cdp.Server.Schema;
using Cdp.Server.Segments;
using Cdp.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Cdp.Server.Engine;

/// <summary>
/// The engine both transports call: it owns the store, the journal, the schema and every decision
/// about a write or a read. Work is done through <see cref="EngineSession"/>s (one per connection,
/// pooled for HTTP); this type owns start-up recovery, checkpoints and shutdown.
/// </summary>
public sealed partial class ProfileEngine : IAsyncDisposable
{
    readonly ILogger logger;
    readonly CancellationTokenSource stopping = new();
    readonly SemaphoreSlim checkpointGate = new(1, 1);
    readonly ConcurrentBag<EngineSession> pool = [];
    readonly SemaphoreSlim poolSlots;
    readonly int poolLimit;
    readonly FileStream folderLock;
    Task? checkpointLoop;
    CheckpointMetadata? lastCheckpoint;

    /// <summary>One checkpoint in this many is full (index + log); the others write only the log.</summary>
    public const int LogCheckpointsPerIndexCheckpoint = 10;
    long lastMasterId;
    long lastSeq;
    volatile bool acceptingWrites;
    int disposed;

    ProfileEngine(CdpOptions options, TimeProvider time, ILogger logger)
    {
        Options = options;
        Time = time;
        this.logger = logger;
        var dataDir = Path.GetFullPath(options.DataDir);
        Directory.CreateDirectory(dataDir);
        DataDir = dataDir;
        folderLock = LockDataDir(dataDir);
        try
        {
            IdentifierTypes = new IdentifierTypes(options.Identity.Types);
            Normalizer = new IdentifierNormalizer(options.Identity.DefaultCountryCode);
            DeclaredTraits = DeclaredTraits.Create(options.Traits);
            IdentityRules = new IdentityRules(options.Identity, IdentifierTypes);
            if (options.Matching.Enabled)
            {
                Matching = new MatchModel(options.Matching);
                Candidates = new CandidateIndex(Matching);
            }
            Schema = new SchemaRegistry(Path.Combine(dataDir, "schema.log"), options.Store.MaxSchemaNames);
            SharedValues = new SharedValueTable(Path.Combine(dataDir, "values.log"), options.Store.SharedValueMinProfiles,
                options.Store.MaxSharedValues, options.Store.MaxSharedValueBytes);
            Computed = ComputedTraitCatalog.Create(options, Schema);
            Purposes = new Cdp.Server.Consent.PurposeCatalog(options.Purposes, Schema, Computed, IdentifierTypes, options.Store.MaxSchemaNames);
            Access = new Cdp.Server.Access.ApiKeyRegistry(options.ApiKeys, Purposes.Names);
            sourceCount = Schema.CountWithPrefix(EngineSession.SourcePrefix);
            Survivorship = TraitSurvivorship.Create(options.Traits.Survivorship, Schema, source =>
            {
                if (!Schema.TryGetId(EngineSession.SourcePrefix + source, out var id))
                {
                    if (!TryAddSource())
                        throw new InvalidOperationException($"Configuration error: Traits:Survivorship names more than {MaxSources} sources.");
                    id = Schema.Intern(EngineSession.SourcePrefix + source, "Traits:Survivorship");
                }
                return id;
            });
            var (generation, compactProfileKeys) = StoreGenerations.Read(dataDir);
            // Folders of a compaction that never switched, or of one that switched but had not yet
            // deleted the old generation: the erased data they may hold must not outlive a restart.
            StoreGenerations.DeleteOthers(dataDir, generation);
            store = new ProfileStore(dataDir, generation, compactProfileKeys, options.Store, Computed, logger, Survivorship, SharedValues);
            Keys = new Cdp.Server.Erasure.ProfileKeys(Path.Combine(dataDir, "keys", "profile.keys"));
            Journal = new WriteJournal(Path.Combine(dataDir, "journal"), options.Journal.PageBytes, options.Journal.MemoryBytes,
                options.Journal.SegmentBytes, options.Journal.CommitIntervalMs, logger, Keys);
            Segments = new SegmentCatalog(this, options.Segments, logger);
        }
        catch
        {
            Journal?.Dispose();
            Keys?.Dispose();
            Store?.Dispose();
            Schema?.Dispose();
            SharedValues?.Dispose();
            folderLock.Dispose();
            throw;
        }
        poolLimit = Math.Max(4, Environment.ProcessorCount * 4);
        poolSlots = new SemaphoreSlim(poolLimit, poolLimit);
    }

    /// <summary>Settings in force.</summary>
    public CdpOptions Options { get; }
    /// <summary>Clock for receive times (a fake one in tests).</summary>
    public TimeProvider Time { get; }
    /// <summary>Absolute data folder.</summary>
    public string DataDir { get; }
    /// <summary>
    /// Holds an exclusive lock on <c>LOCK</c> in the data folder for the engine's life: two servers on
    /// one folder would replay and truncate each other's journal.
    /// </summary>
    static FileStream LockDataDir(string dataDir)
    {
        var path = Path.Combine(dataDir, "LOCK");
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new InvalidOperationException($"The data folder {dataDir} is in use by another Cdp server (cannot lock {path}: {e.Message}).", e);
        }
    }

    /// <summary>Known identifier types.</summary>
    public IdentifierTypes IdentifierTypes { get; }
    /// <summary>The fuzzy matching model; null when matching is off.</summary>
    public MatchModel? Matching { get; }
    /// <summary>Blocked index of every profile's spellings for fuzzy matching; null when matching is off.</summary>
    public CandidateIndex? Candidates { get; }
    /// <summary>Identifier limits, priorities and blocklist.</summary>
    public IdentityRules IdentityRules { get; }
    /// <summary>Identifier normalisation rules.</summary>
    public IdentifierNormalizer Normalizer { get; }
    /// <summary>Trait and event name registry.</summary>
    public SchemaRegistry Schema { get; }
    /// <summary>Trait values many profiles hold, stored once (records hold their ids).</summary>
    public SharedValueTable SharedValues { get; }
    /// <summary>Declared trait types.</summary>
    public DeclaredTraits DeclaredTraits { get; }
    /// <summary>
    /// Most distinct write sources. Sources share the name registry with traits and events, so a
    /// client that sent a new source with every write (a request id) would otherwise fill it.
    /// </summary>
    public const int MaxSources = 1000;
    int sourceCount;

    /// <summary>
    /// Claims room for one more distinct source; false when <see cref="MaxSources"/> are known.
    /// Two writes racing with new sources may pass the limit by one each, which is harmless.
    /// </summary>
    internal bool TryAddSource()
    {
        if (Volatile.Read(ref sourceCount) >= MaxSources)
            return false;
        Interlocked.Increment(ref sourceCount);
        return true;
    }

    /// <summary>Per-trait survivorship rules.</summary>
    public TraitSurvivorship Survivorship { get; }
    /// <summary>Computed and derived traits.</summary>
    public ComputedTraitCatalog Computed { get; }
    /// <summary>The FASTER store (replaced by a compaction).</summary>
    public ProfileStore Store => Volatile.Read(ref store);
    ProfileStore store = null!;
    /// <summary>The write-ahead journal.</summary>
    public WriteJournal Journal { get; }
    /// <summary>Per-profile keys of the journal's entries; destroyed on erasure.</summary>
    public Cdp.Server.Erasure.ProfileKeys Keys { get; } = null!;
    /// <summary>API keys and the access check of every request.</summary>
    public Cdp.Server.Access.ApiKeyRegistry Access { get; } = null!;
    /// <summary>Processing purposes and what each may see.</summary>
    public Cdp.Server.Consent.PurposeCatalog Purposes { get; } = null!;
    /// <summary>Segments: definitions, members, backfills and time-based checks.</summary>
    public SegmentCatalog Segments { get; } = null!;
    /// <summary>Segment membership changes for connected subscribers.</summary>
    public Cdp.Server.Segments.SegmentFeed SegmentFeed { get; } = new();
    /// <summary>Stripes serialising writes on the same identifiers and profiles.</summary>
    public StripedLocks Locks { get; } = new();

    /// <summary>Entries replayed from the journal at start-up.</summary>
    public long ReplayedEntries { get; private set; }

    /// <summary>
    /// Opens the data folder, recovers the latest completed checkpoint, replays the journal after
    /// it and starts the checkpoint timer. Throws (and logs) rather than start with data missing.
    /// </summary>
    public static ProfileEngine Open(CdpOptions options, TimeProvider time, ILogger logger)
    {
        options.Validate();
        var engine = new ProfileEngine(options, time, logger);
        try
        {
            engine.Recover();
            engine.LoadPendingCompaction();
            engine.RebuildCandidates();
        }
        catch
        {
            engine.DisposeResources();
            throw;
        }
        engine.Segments.Start();
        engine.acceptingWrites = true;
        if (options.Store.CheckpointIntervalSeconds > 0)
            engine.checkpointLoop = Task.Run(() => engine.CheckpointLoopAsync(TimeSpan.FromSeconds(options.Store.CheckpointIntervalSeconds)));
        return engine;
    }

    void Recover()
    {
        var metadata = CheckpointMetadata.Load(Store.CheckpointDir);
        long replayFrom;
        if (metadata is not null)
        {
            Store.Recover(metadata);
            Store.PurgeExcept(metadata.IndexToken, metadata.LogToken);
            lastCheckpoint = metadata;
            lastMasterId = (long)metadata.NextMasterId - 1;
            lastSeq = (long)metadata.NextSeq - 1;
            replayFrom = metadata.JournalAddress;
            logger.LogInformation("Recovered checkpoint {Token} (index {IndexToken}) taken at {TakenAt:O}.", metadata.LogToken, metadata.IndexToken, metadata.TakenAt);
        }
        else
        {
            // No checkpoint ever completed, so the journal must never have been truncated: then it
            // holds every write. A truncated journal without metadata means the metadata was lost,
            // and starting would silently drop everything the checkpoints held.
            if (Journal.BeginAddress > WriteJournal.FreshBeginAddress)
                throw new InvalidDataException(
                    $"{Path.Combine(Store.CheckpointDir, CheckpointMetadata.FileName)} is missing, but the journal was truncated behind a checkpoint " +
                    $"(it starts at {Journal.BeginAddress}): the checkpoint it names is needed. Refusing to start; restore the file or the data folder from a backup.");
            // Checkpoint files without metadata are from a first checkpoint that never finished.
            Store.PurgeExcept(null, null);
            replayFrom = Journal.BeginAddress;
            // The store is built from nothing (a new data folder, or one whose first checkpoint never
            // finished), so it can take the current key layout; STORE says so before anything is written.
            if (!Store.CompactProfileKeys)
            {
                StoreGenerations.Write(DataDir, Store.Generation, compactProfileKeys: true);
                Store.UseCompactProfileKeys();
            }
        }
        if (replayFrom < Journal.BeginAddress)
            throw new InvalidDataException($"The journal starts at {Journal.BeginAddress}, after the checkpoint's replay position {replayFrom}: writes are missing. Refusing to start.");
        long until = Journal.CommittedUntilAddress;
        if (replayFrom > until)
            throw new InvalidDataException($"The journal ends at {until}, before the checkpoint's replay position {replayFrom}: the journal is incomplete. Refusing to start.");

        using var session = new EngineSession(this);
        // Memberships are stored with the profiles: the checkpoint's are loaded first, and replayed
        // writes then change them as they did live.
        Segments.LoadMemberships(session, LastMasterId);
        long count = 0, skipped = 0;
        foreach (var (address, bytes) in Journal.Read(replayFrom, until))
        {
            JournalEntry? entry;
            try
            {
                entry = SealedEntry.Open(bytes, Keys);
                if (entry is null)
                {
                    // The person was erased (or the write was never acknowledged: its key was not
                    // flushed before a crash). Nothing of it is replayed; its numbers are still used.
                    var (_, seq, highest) = SealedEntry.ReadHeader(bytes);
                    lastMasterId = Math.Max(lastMasterId, (long)highest);
                    lastSeq = Math.Max(lastSeq, (long)seq);
                    skipped++;
                    continue;
                }
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"Journal entry at address {address} is unreadable: {e.Message}. Refusing to start.", e);
            }
            try
            {
                session.Replay(address, entry);
            }
            catch (EngineException e)
            {
                throw new InvalidDataException($"Journal entry at address {address} cannot be replayed: {e.Message} (were Store:MaxProfileBytes or Store:MaxSchemaNames lowered?). Refusing to start.", e);
            }
            lastMasterId = Math.Max(lastMasterId, (long)entry.MasterId);
            if (entry.Unmerge is { } u)
                lastMasterId = Math.Max(lastMasterId, (long)Math.Max(u.KeptId, u.SplitId));
            lastSeq = Math.Max(lastSeq, (long)entry.Seq);
            count++;
        }
        ReplayedEntries = count;
        logger.LogInformation("Replayed {Count} journal entries from address {From} to {Until} ({Skipped} of erased profiles skipped).", count, replayFrom, until, skipped);
    }

    /// <summary>
    /// Fills the in-memory candidate index from the stored profiles (their current trait values), once
    /// recovery is done; replay does not touch the index, so this one pass is its only source at start.
    /// After a restart a profile is therefore matched on its current spelling, not on every spelling
    /// it was written with before.
    /// </summary>
    void RebuildCandidates()
    {
        if (Candidates is null || Matching is null)
            return;
        var started = Time.GetTimestamp();
        using var session = new EngineSession(this);
        long added = 0;
        for (ulong id = 1; id <= LastMasterId; id++)
        {
            if (session.GetProfileById(id) is not { } view || view.MasterId != id)
                continue;
            var record = MatchInput.FromRecord(Matching, view.Record, Schema, SharedValues);
            if (!record.IsEmpty && Candidates.Add(id, record))
                added++;
        }
        logger.LogInformation("Matching index rebuilt: {Count} profiles in {Ms:F0} ms.", added, Time.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>
    /// Keeps checkpoints out while an unmerge runs (and waits for one under way). An unmerge rewrites
    /// whole profiles; replay repeats it from the history, which is right only on a store that holds
    /// nothing of it or of later writes. A snapshot taken during an unmerge could hold part of it and
    /// later merges, so none is: every checkpoint lies wholly before or after each unmerge.
    /// </summary>
    internal void EnterUnmerge() => checkpointGate.Wait();

    /// <summary>Ends <see cref="EnterUnmerge"/>.</summary>
    internal void ExitUnmerge() => checkpointGate.Release();

    /// <summary>The highest master id handed out so far.</summary>
    public ulong LastMasterId => (ulong)Volatile.Read(ref lastMasterId);

    /// <summary>Next master id; ids only grow, so a smaller id is an older profile.</summary>
    internal ulong NextMasterId() => (ulong)Interlocked.Increment(ref lastMasterId);

    /// <summary>Next write sequence number.</summary>
    internal ulong NextSeq() => (ulong)Interlocked.Increment(ref lastSeq);

    /// <summary>Current time in Unix ms.</summary>
    internal long NowUnixMs() => Time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Throws <see cref="Status.Unavailable"/> when writes cannot be accepted.</summary>
    internal void EnsureWritable()
    {
        if (!acceptingWrites)
            throw new EngineException(Status.Unavailable, ErrorCode.Unavailable, "the server is shutting down and accepts no more writes.");
        if (Journal.Failure is not null)
            throw new EngineException(Status.Unavailable, ErrorCode.Unavailable, "the journal failed; writes cannot be made durable.");
    }

    /// <summary>A new session for a connection; dispose it when the connection ends.</summary>
    public EngineSession NewSession() => new(this);

    /// <summary>
    /// A pooled session for short requests (HTTP); give it back with <see cref="Return"/>. At most
    /// <c>4 x cores</c> are out at once: engine calls are short and synchronous, so more would only
    /// add FASTER sessions and contention, and later requests wait for a free one instead.
    /// </summary>
    public async ValueTask<EngineSession> RentAsync(CancellationToken cancellationToken)
    {
        await poolSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return pool.TryTake(out var s) ? s : new EngineSession(this);
        }
        catch
        {
            poolSlots.Release();
            throw;
        }
    }

    /// <summary>Returns a session taken with <see cref="RentAsync"/>.</summary>
    public void Return(EngineSession session)
    {
        if (Volatile.Read(ref disposed) == 0)
            pool.Add(session);
        else
            session.Dispose();
        poolSlots.Release();
    }

    /// <summary>
    /// Takes a checkpoint and truncates the journal behind it. Order matters: the journal tail and
    /// the id counters are read before the store snapshot starts, so every write below that tail
    /// (applied before it was journaled) is in the snapshot, and anything later is replayed.
    /// </summary>
    public async Task<CheckpointMetadata?> CheckpointAsync(CancellationToken cancellationToken = default)
    {
        await checkpointGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Journal.Failure is not null)
            {
                // The store may hold a write the journal refused; a checkpoint would make it permanent.
                logger.LogWarning("Checkpoint skipped: the journal has failed.");
                return null;
            }
            // Every stripe is taken once before the tail is read: a write finishes its store changes
            // (including the history head it sets after its append) before it lets its stripes go,
            // so each entry below the tail is wholly in the snapshot and each one above is replayed.
            Locks.Barrier();
            long journalAddress = Journal.TailAddress;
            var started = Time.GetTimestamp();
            // Recovery needs an index checkpoint older than the log checkpoint; the index is large and
            // changes little, so most checkpoints write only the log and reuse the last index.
            // Backfills that finished by now wrote their last memberships before this snapshot starts.
            long segmentStamp = Segments.CheckpointStamp;
            bool full = lastCheckpoint is null || lastCheckpoint.LogCheckpointsSinceIndex + 1 >= LogCheckpointsPerIndexCheckpoint;
            var token = full
                ? await Store.TakeFullCheckpointAsync(cancellationToken).ConfigureAwait(false)
                : await Store.TakeLogCheckpointAsync(cancellationToken).ConfigureAwait(false);
            if (token is null)
            {
                logger.LogWarning("A checkpoint was already in progress; skipped.");
                return null;
            }
            // Read after the snapshot: the counters only grow, so these cover every id and sequence
            // number the snapshot can hold, including writes whose journal entries are above journalAddress.
            ulong nextMasterId = (ulong)Volatile.Read(ref lastMasterId) + 1;
            ulong nextSeq = (ulong)Volatile.Read(ref lastSeq) + 1;
            // The replay position must be durable in the journal before the metadata points at it.
            Journal.CommitNow();
            var metadata = new CheckpointMetadata(full ? token.Value : lastCheckpoint!.IndexToken, token.Value, journalAddress, nextMasterId, nextSeq,
                full ? 0 : lastCheckpoint!.LogCheckpointsSinceIndex + 1, Time.GetUtcNow());
            metadata.Save(Store.CheckpointDir);
            lastCheckpoint = metadata;
            Store.PurgeExcept(metadata.IndexToken, metadata.LogToken);
            Segments.OnCheckpoint(segmentStamp);
            if (!Options.Journal.KeepHistory)
                Journal.TruncateUntil(journalAddress);
            logger.LogInformation("{Kind} checkpoint {Token} done in {Ms:F0} ms; journal replays from {Address}.",
                full ? "Full" : "Log", token.Value, Time.GetElapsedTime(started).TotalMilliseconds, journalAddress);
            return metadata;
        }
        finally
        {
            checkpointGate.Release();
        }
    }

    async Task CheckpointLoopAsync(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval, Time);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    // Not cancelled by shutdown: a snapshot abandoned half-way would make the final
                    // checkpoint find FASTER still busy and skip it.
                    if (CompactionDue)
                        await CompactAsync(CancellationToken.None).ConfigureAwait(false);
                    else
                        await CheckpointAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    logger.LogError(e, "Checkpoint failed; the journal keeps every write until the next one succeeds.");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Stops taking writes, takes a final checkpoint and closes the store and journal.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
            return;
        acceptingWrites = false;
        stopping.Cancel();
        // Backfills and time checks stop before the final checkpoint; a backfill cut short runs again at start.
        Segments.Stop();
        if (checkpointLoop is not null)
            await checkpointLoop.ConfigureAwait(false);
        try
        {
            if (Journal.Failure is null)
                await CheckpointAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Final checkpoint failed; the journal still holds every acknowledged write.");
        }
        DisposeResources();
    }

    void DisposeResources()
    {
        Segments?.Dispose();
        while (pool.TryTake(out var s))
            s.Dispose();
        Journal.Dispose();
        Keys.Dispose();
        Store.Dispose();
        Schema.Dispose();
        SharedValues.Dispose();
        stopping.Dispose();
        folderLock.Dispose();
    }
}
