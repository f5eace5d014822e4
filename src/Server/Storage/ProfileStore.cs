using FASTER.core;
using Microsoft.Extensions.Logging;
using Cdp.Server.Hosting;

namespace Cdp.Server.Storage;

/// <summary>
/// The FASTER key-value store holding identities, profiles and dedupe keys, with its device,
/// checkpoint manager and sizing. Sessions come from <see cref="NewSession"/>; checkpoints and
/// recovery go through this type only.
/// </summary>
public sealed class ProfileStore : IDisposable
{
    readonly IDevice device;
    readonly DeviceLogCommitCheckpointManager checkpointManager;
    readonly ILogger logger;

    /// <summary>
    /// Opens the store files of <paramref name="generation"/> under <paramref name="dataDir"/> (nothing
    /// is recovered yet). Each compaction writes the live records into the next generation's folders.
    /// </summary>
    public ProfileStore(string dataDir, int generation, bool compactProfileKeys, StoreOptions options, Cdp.Server.Computed.ComputedTraitCatalog computed, ILogger logger, Cdp.Server.Profiles.TraitSurvivorship? survivorship = null, Cdp.Server.Profiles.SharedValueTable? values = null)
    {
        this.logger = logger;
        Generation = generation;
        CompactProfileKeys = compactProfileKeys;
        StoreDir = Path.Combine(dataDir, StoreGenerations.StoreFolder(generation));
        CheckpointDir = Path.Combine(dataDir, StoreGenerations.CheckpointFolder(generation));
        Directory.CreateDirectory(CheckpointDir);
        device = Devices.CreateLogDevice(Path.Combine(StoreDir, "hlog.log"), preallocateFile: false, recoverDevice: true);
        // Old checkpoints are removed by us only after the new one's metadata is durable (see Purge),
        // so a crash mid-checkpoint always leaves a complete older one to recover.
        checkpointManager = new DeviceLogCommitCheckpointManager(new LocalStorageNamedDeviceFactory(), new DefaultCheckpointNamingScheme(CheckpointDir), removeOutdated: false);
        values ??= Cdp.Server.Profiles.SharedValueTable.None;
        Functions = new StoreFunctions(options.MaxProfileBytes, computed, survivorship ?? Cdp.Server.Profiles.TraitSurvivorship.Default, values);
        ValueLength = new ProfileValueLength(options.MaxProfileBytes, computed, survivorship ?? Cdp.Server.Profiles.TraitSurvivorship.Default, values);
        var settings = new FasterKVSettings<SpanByte, SpanByte>
        {
            LogDevice = device,
            IndexSize = options.IndexBytes,
            MemorySize = options.MemoryBytes,
            PageSize = options.PageBytes,
            SegmentSize = options.SegmentBytes,
            MutableFraction = options.MutableFraction,
            CheckpointManager = checkpointManager,
            RemoveOutdatedCheckpoints = false,
            // Never: it swallows recovery errors and yields an empty store (notes/faster.md B.6).
            TryRecoverLatest = false,
            ConcurrencyControlMode = ConcurrencyControlMode.LockTable,
        };
        Kv = new FasterKV<SpanByte, SpanByte>(settings);
    }

    /// <summary>The FASTER store.</summary>
    public FasterKV<SpanByte, SpanByte> Kv { get; }

    /// <summary>Callbacks shared by every session.</summary>
    public StoreFunctions Functions { get; }

    /// <summary>Profile sizing shared by every session.</summary>
    public ProfileValueLength ValueLength { get; }

    /// <summary>Folder of FASTER checkpoints and <see cref="CheckpointMetadata"/>.</summary>
    public string CheckpointDir { get; }

    /// <summary>Folder of the FASTER log.</summary>
    public string StoreDir { get; }

    /// <summary>Which compaction wrote this store (0: never compacted).</summary>
    public int Generation { get; }

    /// <summary>
    /// Whether profiles are kept under <see cref="StoreKeys.CompactProfile"/> keys, as the <c>STORE</c> file
    /// says (<see cref="StoreGenerations"/>): every store that starts empty takes them; a store written
    /// before they existed keeps its 9-byte keys until a compaction copies it into a new generation
    /// (<see cref="CopyLiveRecordsTo"/>).
    /// </summary>
    public bool CompactProfileKeys { get; private set; }

    /// <summary>Makes a store with nothing in it keep profiles under compact keys (the caller has recorded that in <c>STORE</c>).</summary>
    internal void UseCompactProfileKeys() => CompactProfileKeys = true;

    /// <summary>Makes an empty store keep 9-byte profile keys, as stores written before compact keys do. For tests.</summary>
    internal void UseNineByteProfileKeysForTests() => CompactProfileKeys = false;

    /// <summary>
    /// Writes every live record (latest version, no tombstones) into <paramref name="target"/>, which
    /// then holds one version of each key and nothing deleted or superseded. Nothing may write to this
    /// store meanwhile. Returns the number of records copied. Profile keys take the target's form
    /// (<see cref="CompactProfileKeys"/>).
    /// </summary>
    public unsafe long CopyLiveRecordsTo(ProfileStore target)
    {
        using var from = NewSession();
        using var to = target.NewSession();
        using var iterator = from.Iterate();
        bool compactKeys = target.CompactProfileKeys && !CompactProfileKeys;
        byte* compactKey = stackalloc byte[StoreKeys.MaxProfileKeyLength];
        long copied = 0;
        while (iterator.GetNext(out _))
        {
            ref var key = ref iterator.GetKey();
            int compactLength = compactKeys ? StoreKeys.TryCompactProfileKey(key.AsReadOnlySpan(), new Span<byte>(compactKey, StoreKeys.MaxProfileKeyLength)) : 0;
            Status status;
            if (compactLength > 0)
            {
                var compact = SpanByte.FromPointer(compactKey, compactLength);
                status = to.Upsert(ref compact, ref iterator.GetValue());
            }
            else
                status = to.Upsert(ref key, ref iterator.GetValue());
            if (status.IsPending)
                to.CompletePending(wait: true);
            copied++;
        }
        to.CompletePending(wait: true);
        return copied;
    }

    /// <summary>A new session; one per connection or worker, never used by two threads at once.</summary>
    public ClientSession<SpanByte, SpanByte, SpanByte, SpanByteAndMemory, long, StoreFunctions> NewSession()
        => Kv.For(Functions).NewSession<StoreFunctions>(
            sessionVariableLengthStructSettings: new SessionVariableLengthStructSettings<SpanByte, SpanByte> { valueLength = ValueLength });

    /// <summary>Restores the checkpoint named by the metadata; a missing or corrupt one throws.</summary>
    public void Recover(CheckpointMetadata metadata)
    {
        try
        {
            Kv.Recover(metadata.IndexToken, metadata.LogToken);
        }
        catch (Exception e)
        {
            throw new InvalidDataException(
                $"Checkpoint {metadata.LogToken} (index {metadata.IndexToken}) in {CheckpointDir} cannot be recovered ({e.Message}); refusing to start with an empty or partial store. " +
                "Restore the data folder from a backup, or move it away to start empty.", e);
        }
    }

    /// <summary>
    /// Takes a full (index + log) snapshot checkpoint and returns its token, or null if another one is
    /// running. The index is the whole hash table (64 MiB by default): write it only now and then.
    /// </summary>
    public async Task<Guid?> TakeFullCheckpointAsync(CancellationToken cancellationToken)
    {
        var (success, token) = await Kv.TakeFullCheckpointAsync(CheckpointType.Snapshot, cancellationToken).ConfigureAwait(false);
        return success ? token : null;
    }

    /// <summary>
    /// Takes a log-only snapshot checkpoint, recovered together with the last index checkpoint.
    /// </summary>
    /// <remarks>
    /// Not incremental: an incremental snapshot adds a delta to the previous snapshot's folder under
    /// the same token, and recovery by token restores the newest delta in it. After a crash between a
    /// delta and its metadata, the store would hold writes newer than the id counters and journal
    /// position the metadata names (ids handed out again). A new token per snapshot keeps recovery
    /// exactly at the checkpoint the metadata describes.
    /// </remarks>
    public async Task<Guid?> TakeLogCheckpointAsync(CancellationToken cancellationToken)
    {
        var (success, token) = await Kv.TakeHybridLogCheckpointAsync(CheckpointType.Snapshot, tryIncremental: false, cancellationToken).ConfigureAwait(false);
        return success ? token : null;
    }

    /// <summary>Deletes every checkpoint except those named (none, when both are null).</summary>
    public void PurgeExcept(Guid? keepIndex, Guid? keepLog)
    {
        var tokens = checkpointManager.GetLogCheckpointTokens().Concat(checkpointManager.GetIndexCheckpointTokens()).Distinct().ToList();
        foreach (var token in tokens)
        {
            if (token == keepIndex || token == keepLog)
                continue;
            try
            {
                checkpointManager.Purge(token);
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Could not delete old checkpoint {Token}.", token);
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Kv.Dispose();
        device.Dispose();
        checkpointManager.Dispose();
    }
}
