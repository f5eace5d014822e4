using FASTER.core;
using Microsoft.Extensions.Logging;

namespace Cdp.Server.Journal;

/// <summary>
/// The write-ahead journal: every accepted write is appended here and acknowledged only once a
/// group commit has made it durable. A dedicated thread commits at most
/// <c>commitInterval</c> after the first uncommitted append, so concurrent writers share one flush.
/// </summary>
/// <remarks>
/// FasterLog's own commit helpers only wait; they never commit (FASTER issue 586), so without this
/// thread acknowledgements would hang. Waiters are grouped by commit here rather than with
/// FasterLog.WaitForCommitAsync, which wakes every waiter on every commit: with hundreds of HTTP
/// requests in flight that re-check loop cost more CPU than the writes themselves. A commit failure
/// (disk full, device error) marks the journal failed: waiting writers get an error and later writes
/// are refused, rather than acknowledged and lost.
/// </remarks>
public sealed class WriteJournal : IDisposable
{
    readonly FasterLog log;
    readonly IDevice device;
    readonly JournalCommitFile commitManager;
    readonly ILogger logger;
    readonly int commitIntervalMs;
    readonly Thread committer;
    readonly ManualResetEventSlim commitRequested = new(false);
    readonly object batchGate = new();
    // Completes when the commit that starts next has finished: every entry appended before that
    // commit starts is in it.
    CommitBatch nextBatch = NewBatch();
    // The commit under way, and the tail it is known to cover.
    CommitBatch? inFlight;
    long inFlightUntil;
    volatile bool stopping;
    volatile Exception? failure;
    readonly IJournalCommitListener? listener;
    // Below this, entries and everything they depend on (their keys) are durable: what writers wait for.
    long acknowledgedUntil;

    /// <summary>Opens (recovering if present) the journal in <paramref name="directory"/>.</summary>
    public WriteJournal(string directory, long pageBytes, long memoryBytes, long segmentBytes, int commitIntervalMs, ILogger logger, IJournalCommitListener? listener = null)
    {
        this.listener = listener;
        Directory.CreateDirectory(directory);
        this.logger = logger;
        this.commitIntervalMs = commitIntervalMs;
        device = Devices.CreateLogDevice(Path.Combine(directory, "journal.log"), preallocateFile: false, recoverDevice: true);
        try
        {
            // One file of two slots instead of a new file per commit (see JournalCommitFile).
            commitManager = new JournalCommitFile(Path.Combine(directory, "commits"), logger);
            var settings = new FasterLogSettings
            {
                LogDevice = device,
                PageSize = pageBytes,
                MemorySize = memoryBytes,
                SegmentSize = segmentBytes,
                LogCommitManager = commitManager,
                TryRecoverLatest = false,
                AutoRefreshSafeTailAddress = false,
                LogChecksum = LogChecksumType.PerEntry,
            };
            log = new FasterLog(settings);
            MaxEntryBytes = (int)Math.Min(int.MaxValue, pageBytes - 64);
            // A journal with entries but no commit file lost it: opening it would start empty and
            // drop every acknowledged write, so it must not open. (The file is made when a journal is
            // created, before anything is written to it.)
            if (!commitManager.Existed && !commitManager.HasLegacyCommits && HasSegments(directory))
                throw new InvalidDataException($"The journal in {directory} has entries but its commit file (commits/{JournalCommitFile.FileName}) is missing, so what was committed cannot be told. Restore the data folder from a backup.");
            log.Recover();
            acknowledgedUntil = log.CommittedUntilAddress;
        }
        catch
        {
            log?.Dispose();
            commitManager?.Dispose();
            device.Dispose();
            throw;
        }
        committer = new Thread(CommitLoop) { IsBackground = true, Name = "cdp-journal-commit" };
        committer.Start();
    }

    static bool HasSegments(string directory)
        => Directory.EnumerateFiles(directory, "journal.log.*").Any(f => new FileInfo(f).Length > 0);

    /// <summary>The commit file, for tests that make its writes fail.</summary>
    internal JournalCommitFile CommitFileForTests => commitManager;

    /// <summary>BeginAddress of a journal that has never been truncated (FasterLog's first valid address).</summary>
    public const long FreshBeginAddress = 64;

    /// <summary>Largest entry that fits: one journal page, less FasterLog's entry header and checksum.</summary>
    public int MaxEntryBytes { get; private set; }

    /// <summary>Marks the journal failed: no more appends, waiting writers get an error.</summary>
    public void Fail(Exception reason)
    {
        if (failure is null)
        {
            failure = reason;
            logger.LogCritical(reason, "Journal failed; the server refuses writes from now on.");
        }
        ReleaseWaiters(new JournalFailedException(reason));
    }

    void ReleaseWaiters(Exception error)
    {
        CommitBatch? current, next;
        lock (batchGate)
        {
            current = inFlight;
            next = nextBatch;
        }
        // Outside the lock: waiters resumed on this thread run connection code. They leave only the
        // commit thread before processing more frames, so from any other thread (a failed append,
        // Dispose) they are handed to the pool.
        bool inline = OnCommitThread;
        current?.Fail(error, inline);
        next.Fail(error, inline);
    }

    /// <summary>First address still held by the journal.</summary>
    public long BeginAddress => log.BeginAddress;

    /// <summary>Address the next append will get.</summary>
    public long TailAddress => log.TailAddress;

    /// <summary>Everything below this address is in the journal's files (readable by <see cref="ReadEntry"/> and replay).</summary>
    public long CommittedUntilAddress => log.CommittedUntilAddress;

    /// <summary>Everything below this address is durable together with what it depends on; writes are acknowledged up to here.</summary>
    public long DurableUntilAddress => Volatile.Read(ref acknowledgedUntil);

    /// <summary>Set once a commit has failed; writes must be refused from then on.</summary>
    public Exception? Failure => failure;

    /// <summary>Appends one entry and returns its address. It is not durable until <see cref="WaitForCommitAsync"/> says so.</summary>
    public long Append(ReadOnlySpan<byte> entry)
    {
        if (failure is { } f)
            throw new JournalFailedException(f);
        long address = log.Enqueue(entry);
        if (!commitRequested.IsSet)
            commitRequested.Set();
        return address;
    }

    /// <summary>Completes once the entry at <paramref name="address"/> is durable; throws if the journal failed.</summary>
    /// <param name="address">The entry's address.</param>
    /// <param name="cancellationToken">Stops waiting (the entry may still become durable).</param>
    /// <param name="resumeOnCommitThread">
    /// Resume on the commit thread when the wait does not complete at once: for a caller whose
    /// continuation only sends (the binary transport's replies) and leaves that thread (see
    /// <see cref="OnCommitThread"/>) before it processes requests, disposes sessions or does anything
    /// else that can wait; every other caller resumes on the thread pool. A failure raised on another
    /// thread resumes these waiters on the pool too.
    /// </param>
    public ValueTask WaitForCommitAsync(long address, CancellationToken cancellationToken = default, bool resumeOnCommitThread = false)
    {
        if (DurableUntilAddress > address)
            return ValueTask.CompletedTask;
        if (failure is { } f)
            throw new JournalFailedException(f);
        if (!commitRequested.IsSet)
            commitRequested.Set();
        return WaitSlowAsync(address, cancellationToken, resumeOnCommitThread);
    }

    /// <summary>Whether the caller runs on the commit thread (resumed there by <see cref="WaitForCommitAsync"/>).</summary>
    public bool OnCommitThread => Thread.CurrentThread == committer;

    async ValueTask WaitSlowAsync(long address, CancellationToken cancellationToken, bool resumeOnCommitThread)
    {
        Task batch;
        lock (batchGate)
        {
            if (DurableUntilAddress > address)
                return;
            batch = (inFlight is not null && address < inFlightUntil ? inFlight : nextBatch).Task(resumeOnCommitThread);
        }
        try
        {
            await batch.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (JournalFailedException) when (DurableUntilAddress > address)
        {
            // The journal failed or closed after this entry became durable (the final commit at
            // shutdown): the write is kept, so it is acknowledged.
            return;
        }
        if (DurableUntilAddress <= address)
            throw new JournalFailedException(failure ?? new InvalidOperationException($"commit finished below address {address}"));
    }

    static CommitBatch NewBatch() => new();

    /// <summary>
    /// The waiters of one commit, in two groups. Those that asked to resume on the commit thread
    /// (the binary transport: send the replies, post the next receive, nothing else) run there when
    /// the commit completes, one after the other; the rest are handed to the thread pool. Handing each
    /// of some fifty connections to the pool at every commit woke pool threads that spun and slept,
    /// which under a track load cost more than the sends themselves (docs/performance.md).
    /// </summary>
    sealed class CommitBatch
    {
        readonly TaskCompletionSource onCommitThread = new(TaskCreationOptions.None);
        readonly TaskCompletionSource pooled = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Task(bool resumeOnCommitThread) => resumeOnCommitThread ? onCommitThread.Task : pooled.Task;

        /// <summary>Completes the batch; runs the commit-thread waiters before it returns.</summary>
        public void Complete()
        {
            pooled.TrySetResult();
            onCommitThread.TrySetResult();
        }

        public void Fail(Exception error, bool resumeInline)
        {
            pooled.TrySetException(error);
            if (resumeInline)
                onCommitThread.TrySetException(error);
            else
                ThreadPool.UnsafeQueueUserWorkItem(static s => s.Waiters.TrySetException(s.Error), (Waiters: onCommitThread, Error: error), preferLocal: false);
        }
    }

    /// <summary>Commits everything appended so far and waits for it (used by checkpoints and shutdown).</summary>
    public void CommitNow() => Commit();

    static void MonotonicRaise(ref long target, long value)
    {
        long seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    /// <summary>
    /// One commit, then the listener's work (keys the committed entries need are flushed there), and
    /// only then are the entries acknowledged (<see cref="DurableUntilAddress"/>).
    /// </summary>
    void Commit()
    {
        var commit = log.CommitAsync().AsTask();
        // FASTER never completes a commit whose record could not be written (JournalCommitFile.Failed).
        if (Task.WaitAny(commit, commitManager.Failed) == 1)
            throw new IOException("The journal's commit record could not be written: " + commitManager.Failed.Result.Message, commitManager.Failed.Result);
        commit.GetAwaiter().GetResult();
        long committed = log.CommittedUntilAddress;
        listener?.AfterCommit(committed);
        MonotonicRaise(ref acknowledgedUntil, committed);
    }

    /// <summary>Drops everything below <paramref name="address"/> (covered by a checkpoint); files go with the next commit.</summary>
    public void TruncateUntil(long address)
    {
        log.TruncateUntil(address);
        Commit();
    }

    /// <summary>
    /// Reads the committed entry at <paramref name="address"/> (from memory or disk); null when the
    /// address is below the journal's begin (truncated) or holds no entry.
    /// </summary>
    public byte[]? ReadEntry(long address)
    {
        if (address < log.BeginAddress || address >= log.CommittedUntilAddress)
            return null;
        var (bytes, length) = log.ReadAsync(address).AsTask().GetAwaiter().GetResult();
        if (bytes is null || length <= 0)
            return null;
        return bytes.Length == length ? bytes : bytes.AsSpan(0, length).ToArray();
    }

    /// <summary>Reads the committed entries in <c>[from, until)</c>, in order.</summary>
    public IEnumerable<(long Address, byte[] Entry)> Read(long from, long until)
    {
        using var iterator = log.Scan(from, until, recover: false, scanUncommitted: false);
        while (true)
        {
            byte[] entry;
            long address;
            while (!iterator.GetNext(out entry, out _, out address))
            {
                if (iterator.NextAddress >= until)
                    yield break;
                // The scan reached the end of what is in memory or on disk so far.
                if (!iterator.WaitAsync().AsTask().Wait(TimeSpan.FromSeconds(30)))
                    throw new InvalidDataException($"Journal replay stalled at address {iterator.NextAddress} (until {until}).");
            }
            yield return (address, entry);
        }
    }

    void CommitLoop()
    {
        while (!stopping)
        {
            commitRequested.Wait();
            if (stopping)
                break;
            if (commitIntervalMs > 0)
                Thread.Sleep(commitIntervalMs);
            commitRequested.Reset();
            CommitBatch batch;
            lock (batchGate)
            {
                batch = inFlight = nextBatch;
                nextBatch = NewBatch();
                inFlightUntil = log.TailAddress;
            }
            try
            {
                // Block, don't spin: Commit(spinWait: true) burns a core for the whole disk write,
                // which on a small machine is a core taken from the requests being committed.
                Commit();
            }
            catch (Exception e)
            {
                Fail(e);
                return;
            }
            lock (batchGate)
                inFlight = null;
            batch.Complete();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        stopping = true;
        commitRequested.Set();
        committer.Join();
        if (failure is null)
        {
            try
            {
                Commit();
            }
            catch (Exception e)
            {
                logger.LogError(e, "Final journal commit failed.");
            }
        }
        ReleaseWaiters(new JournalFailedException(new ObjectDisposedException(nameof(WriteJournal))));
        log.Dispose();
        commitManager.Dispose();
        device.Dispose();
        commitRequested.Dispose();
    }
}

/// <summary>The journal can no longer make writes durable.</summary>
public sealed class JournalFailedException(Exception inner)
    : Exception("The journal failed; writes cannot be made durable: " + inner.Message, inner);
