using Cdp.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Cdp.Server.Engine;

// Compaction: the store rewritten into fresh files holding only live records, so that nothing
// deleted (an erased person) or superseded survives in the FASTER log or its checkpoints.
public sealed partial class ProfileEngine
{
    readonly object sessionsGate = new();
    readonly HashSet<EngineSession> sessions = [];
    readonly ManualResetEventSlim storeResumed = new(true);
    volatile bool storePaused;
    long erasuresSinceCompaction;
    long firstPendingErasureTicks;

    /// <summary>Set while a compaction swaps the store: sessions wait before their next store call.</summary>
    internal bool StorePaused => storePaused;

    /// <summary>Blocks until a compaction under way has swapped the store.</summary>
    internal void WaitForStore() => storeResumed.Wait();

    /// <summary>Registers a new session and gives it a FASTER session on the current store.</summary>
    internal FASTER.core.ClientSession<FASTER.core.SpanByte, FASTER.core.SpanByte, FASTER.core.SpanByte, FASTER.core.SpanByteAndMemory, long, StoreFunctions> Register(EngineSession session)
    {
        lock (sessionsGate)
        {
            sessions.Add(session);
            return Store.NewSession();
        }
    }

    /// <summary>Forgets a session being disposed; <paramref name="dispose"/> runs where no compaction can swap its store.</summary>
    internal void Unregister(EngineSession session, Action dispose)
    {
        lock (sessionsGate)
        {
            sessions.Remove(session);
            dispose();
        }
    }

    const string CompactionPendingFile = "COMPACT-PENDING";

    /// <summary>
    /// Counts an erasure for <see cref="StoreOptions.CompactAfterErasureSeconds"/>. A file in the data
    /// folder keeps the need across restarts: the erased records may be in a checkpoint recovered at start.
    /// </summary>
    internal void NoteErasure()
    {
        if (Interlocked.Increment(ref erasuresSinceCompaction) != 1)
            return;
        Interlocked.Exchange(ref firstPendingErasureTicks, Time.GetTimestamp());
        var path = Path.Combine(DataDir, CompactionPendingFile);
        if (!File.Exists(path))
            File.WriteAllText(path, "erased records may still be in the store files; the next compaction removes them\n");
    }

    /// <summary>At start: a compaction still owed from before the restart.</summary>
    void LoadPendingCompaction()
    {
        if (File.Exists(Path.Combine(DataDir, CompactionPendingFile)) && ErasuresSinceCompaction == 0)
            NoteErasure();
    }

    /// <summary>Erasures whose data may still be in the store's files (until the next compaction).</summary>
    public long ErasuresSinceCompaction => Interlocked.Read(ref erasuresSinceCompaction);

    /// <summary>True when an erasure has waited <see cref="StoreOptions.CompactAfterErasureSeconds"/> for a compaction.</summary>
    internal bool CompactionDue => Options.Store.CompactAfterErasureSeconds >= 0 && ErasuresSinceCompaction > 0
        && Time.GetElapsedTime(Interlocked.Read(ref firstPendingErasureTicks)).TotalSeconds >= Options.Store.CompactAfterErasureSeconds;

    /// <summary>
    /// Rewrites the store into the next generation's folders with only its live records, takes a full
    /// checkpoint of it, switches to it and deletes the old generation (its log, with every deleted and
    /// superseded record version, and its checkpoints). Reads and writes wait while it runs: it holds
    /// every stripe, then keeps each session out of the store until the switch.
    /// </summary>
    public Task<CompactionResult?> CompactAsync(CancellationToken cancellationToken = default)
        // Monitors are owned by a thread: the stripes are taken and released on this one.
        => Task.Factory.StartNew(() => Compact(cancellationToken), cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    CompactionResult? Compact(CancellationToken cancellationToken)
    {
        checkpointGate.Wait(cancellationToken);
        try
        {
            if (Journal.Failure is not null)
            {
                logger.LogWarning("Compaction skipped: the journal has failed.");
                return null;
            }
            var started = Time.GetTimestamp();
            long erasures = ErasuresSinceCompaction;
            CompactionResult result;
            Locks.EnterAll();
            try
            {
                lock (sessionsGate)
                {
                    storeResumed.Reset();
                    storePaused = true;
                    try
                    {
                        Interlocked.MemoryBarrier();
                        foreach (var session in sessions)
                        {
                            var wait = new SpinWait();
                            while (session.InStore)
                                wait.SpinOnce();
                        }
                        result = SwitchToCompactedStore(started, erasures);
                    }
                    finally
                    {
                        storePaused = false;
                        storeResumed.Set();
                    }
                }
            }
            finally
            {
                Locks.ExitAll();
            }
            // After the sessions are back: these take locks a session may hold while it waited for the store.
            Segments.OnCheckpoint(result.SegmentStamp);
            if (!Options.Journal.KeepHistory)
                Journal.TruncateUntil(result.JournalAddress);
            return result;
        }
        finally
        {
            checkpointGate.Release();
        }
    }

    /// <summary>The compaction proper, with no write or read under way anywhere.</summary>
    CompactionResult SwitchToCompactedStore(long started, long erasures)
    {
        var old = Store;
        // Keys of finished erasures go, and every write so far is durable: the new checkpoint replays from here.
        Journal.CommitNow();
        long journalAddress = Journal.TailAddress;
        long segmentStamp = Segments.CheckpointStamp;
        int generation = old.Generation + 1;
        var dataDir = DataDir;
        foreach (var leftover in new[] { StoreGenerations.StoreFolder(generation), StoreGenerations.CheckpointFolder(generation) })
            if (Directory.Exists(Path.Combine(dataDir, leftover)))
                Directory.Delete(Path.Combine(dataDir, leftover), recursive: true);
        var fresh = new ProfileStore(dataDir, generation, compactProfileKeys: true, Options.Store, Computed, logger, Survivorship, SharedValues);
        CheckpointMetadata metadata;
        long records;
        try
        {
            records = old.CopyLiveRecordsTo(fresh);
            var token = fresh.TakeFullCheckpointAsync(CancellationToken.None).GetAwaiter().GetResult()
                ?? throw new InvalidOperationException("the new store refused its first checkpoint");
            metadata = new CheckpointMetadata(token, token, journalAddress, LastMasterId + 1, (ulong)Volatile.Read(ref lastSeq) + 1, 0, Time.GetUtcNow());
            metadata.Save(fresh.CheckpointDir);
            // The commit point: from here on a restart opens the new generation.
            StoreGenerations.Write(dataDir, generation, fresh.CompactProfileKeys);
        }
        catch
        {
            fresh.Dispose();
            Directory.Delete(fresh.StoreDir, recursive: true);
            Directory.Delete(fresh.CheckpointDir, recursive: true);
            throw;
        }
        foreach (var session in sessions)
            session.SwitchStore(fresh);
        Volatile.Write(ref store, fresh);
        lastCheckpoint = metadata;
        old.Dispose();
        Directory.Delete(old.StoreDir, recursive: true);
        Directory.Delete(old.CheckpointDir, recursive: true);
        if (Interlocked.Add(ref erasuresSinceCompaction, -erasures) == 0)
            File.Delete(Path.Combine(dataDir, CompactionPendingFile));
        var elapsed = Time.GetElapsedTime(started);
        logger.LogInformation("Compaction to generation {Generation} done in {Ms:F0} ms: {Records} live records kept, {Erasures} erasures no longer on disk.",
            generation, elapsed.TotalMilliseconds, records, erasures);
        return new CompactionResult(generation, records, erasures, elapsed) { SegmentStamp = segmentStamp, JournalAddress = journalAddress };
    }
}

/// <summary>A compaction done: the store generation now in use, the records it holds, the erasures it completed, how long it took.</summary>
public sealed record CompactionResult(int Generation, long Records, long Erasures, TimeSpan Elapsed)
{
    /// <summary>The segment stamp read before the copy (backfills finished by then are in the new checkpoint).</summary>
    internal long SegmentStamp { get; init; }
    /// <summary>The journal position the new checkpoint replays from.</summary>
    internal long JournalAddress { get; init; }
}
