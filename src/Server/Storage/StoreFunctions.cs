using Cdp.Server.Computed;
using Cdp.Server.Profiles;
using FASTER.core;

namespace Cdp.Server.Storage;

/// <summary>
/// FASTER callbacks. Reads and upserts are plain SpanByte copies (inherited); read-modify-write is
/// only used on profile keys, where the input carries a delta record that is merged into the value.
/// </summary>
/// <remarks>
/// A merge that would pass the profile size limit cancels the operation (status Canceled) so the
/// engine can refuse the write with nothing changed. Replayed deltas whose sequence number the
/// record already holds change nothing: that is what makes journal replay over a checkpoint safe.
/// Callbacks may run more than once (CopyUpdater retries), so they have no side effects.
/// </remarks>
public sealed class StoreFunctions : SpanByteFunctions<long>
{
    readonly int maxProfileBytes;
    readonly ComputedTraitCatalog computed;
    readonly TraitSurvivorship survivorship;

    /// <summary>Creates the callbacks for profiles up to <paramref name="maxProfileBytes"/> with the configured computed traits.</summary>
    public StoreFunctions(int maxProfileBytes, ComputedTraitCatalog computed, TraitSurvivorship survivorship)
    {
        this.maxProfileBytes = maxProfileBytes;
        this.computed = computed;
        this.survivorship = survivorship;
    }

    static ReadOnlySpan<byte> Delta(ref SpanByte input) => input.AsReadOnlySpan()[ProfileInput.HeaderSize..];

    static bool IsStaleReplay(ref SpanByte input, ReadOnlySpan<byte> current)
        => (input.AsReadOnlySpan()[0] & ProfileInput.Replay) != 0
           && ProfileRecord.LastSeq(Delta(ref input)) <= ProfileRecord.LastSeq(current);

    /// <inheritdoc />
    public override bool InitialUpdater(ref SpanByte key, ref SpanByte input, ref SpanByte value, ref SpanByteAndMemory output, ref RMWInfo rmwInfo)
    {
        var delta = Delta(ref input);
        int used = ProfileRecord.UsedLength(delta);
        if (used > maxProfileBytes)
        {
            rmwInfo.Action = RMWAction.CancelOperation;
            return false;
        }
        var destination = value.AsSpan();
        delta[..used].CopyTo(destination);
        destination[used..].Clear();
        return true;
    }

    /// <inheritdoc />
    public override bool InPlaceUpdater(ref SpanByte key, ref SpanByte input, ref SpanByte value, ref SpanByteAndMemory output, ref RMWInfo rmwInfo)
    {
        var current = value.AsSpan();
        if (ProfileRecord.IsAlias(current))
        {
            // A merged-away profile is never written; the engine resolves aliases first. Refuse
            // rather than read the alias as a record.
            rmwInfo.Action = RMWAction.CancelOperation;
            return false;
        }
        if (IsStaleReplay(ref input, current))
            return true;
        var scratch = MergeScratch.Get(maxProfileBytes);
        int used = ProfileRecord.Merge(current, Delta(ref input), scratch, computed, survivorship);
        if (used < 0 || used > maxProfileBytes)
        {
            rmwInfo.Action = RMWAction.CancelOperation;
            return false;
        }
        if (used > current.Length)
            return false; // FASTER copy-updates into a larger record sized by ProfileValueLength.
        scratch[..used].CopyTo(current);
        current[used..].Clear();
        return true;
    }

    /// <inheritdoc />
    public override bool CopyUpdater(ref SpanByte key, ref SpanByte input, ref SpanByte oldValue, ref SpanByte newValue, ref SpanByteAndMemory output, ref RMWInfo rmwInfo)
    {
        var current = oldValue.AsReadOnlySpan();
        var destination = newValue.AsSpan();
        if (ProfileRecord.IsAlias(current))
        {
            rmwInfo.Action = RMWAction.CancelOperation;
            return false;
        }
        if (IsStaleReplay(ref input, current))
        {
            int keep = ProfileRecord.UsedLength(current);
            if (keep > destination.Length)
                return false;
            current[..keep].CopyTo(destination);
            destination[keep..].Clear();
            return true;
        }
        int used = ProfileRecord.Merge(current, Delta(ref input), destination, computed, survivorship);
        if (used < 0 || used > maxProfileBytes)
        {
            rmwInfo.Action = RMWAction.CancelOperation;
            return false;
        }
        destination[used..].Clear();
        return true;
    }

    /// <inheritdoc />
    public override bool SingleDeleter(ref SpanByte key, ref SpanByte value, ref DeleteInfo deleteInfo) => true;
}
