using System.Buffers.Binary;
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
    readonly SharedValueTable values;

    /// <summary>Creates the callbacks for profiles up to <paramref name="maxProfileBytes"/> with the configured computed traits.</summary>
    public StoreFunctions(int maxProfileBytes, ComputedTraitCatalog computed, TraitSurvivorship survivorship, SharedValueTable values)
    {
        this.maxProfileBytes = maxProfileBytes;
        this.computed = computed;
        this.survivorship = survivorship;
        this.values = values;
    }

    static ReadOnlySpan<byte> Delta(ref SpanByte input) => input.AsReadOnlySpan()[ProfileInput.HeaderSize..];

    static bool IsHeadMove(ref SpanByte input) => ProfileInput.IsHeadMove(input.AsReadOnlySpan());

    /// <summary>Writes the head <paramref name="current"/> holds (empty: no record) into the output when the input asks (<see cref="ProfileInput.ReportHead"/>).</summary>
    static void ReportHead(ref SpanByte input, ReadOnlySpan<byte> current, ref SpanByteAndMemory output)
    {
        if ((input.AsReadOnlySpan()[0] & ProfileInput.ReportHead) == 0 || !output.IsSpanByte || output.SpanByte.Length < ProfileInput.HeadReportSize)
            return;
        var report = output.SpanByte.AsSpan();
        bool held = current.Length >= ProfileRecord.HeaderSize && !ProfileRecord.IsAlias(current) && ProfileRecord.HasHistoryHead(current);
        BinaryPrimitives.WriteInt64LittleEndian(report, held ? ProfileRecord.HistoryHeadAddress(current) : 0);
        report[8] = held ? ProfileRecord.HistoryHeadSide(current) : (byte)0;
        report[9] = held ? (byte)1 : (byte)0;
        output.SpanByte.Length = ProfileInput.HeadReportSize;
    }

    /// <summary>Moves the history head of a record that holds one (format 4 or 5); false (the operation is cancelled) for any other value.</summary>
    static bool TryMoveHead(ref SpanByte input, Span<byte> record, ref RMWInfo rmwInfo)
    {
        if (ProfileRecord.IsAlias(record) || record.Length < ProfileRecord.HeaderSize || !ProfileRecord.HasHistoryHead(record))
        {
            rmwInfo.Action = RMWAction.CancelOperation;
            return false;
        }
        var head = input.AsReadOnlySpan()[ProfileInput.HeaderSize..];
        ProfileRecord.SetHistoryHead(record, BinaryPrimitives.ReadInt64LittleEndian(head), head[8]);
        return true;
    }

    /// <inheritdoc />
    public override bool NeedInitialUpdate(ref SpanByte key, ref SpanByte input, ref SpanByteAndMemory output, ref RMWInfo rmwInfo)
        => !IsHeadMove(ref input);

    /// <inheritdoc />
    public override bool SingleReader(ref SpanByte key, ref SpanByte input, ref SpanByte value, ref SpanByteAndMemory dst, ref ReadInfo readInfo)
        => IsHeaderRead(ref input) ? CopyHeader(ref value, ref dst) : base.SingleReader(ref key, ref input, ref value, ref dst, ref readInfo);

    /// <inheritdoc />
    public override bool ConcurrentReader(ref SpanByte key, ref SpanByte input, ref SpanByte value, ref SpanByteAndMemory dst, ref ReadInfo readInfo)
        => IsHeaderRead(ref input) ? CopyHeader(ref value, ref dst) : base.ConcurrentReader(ref key, ref input, ref value, ref dst, ref readInfo);

    static bool IsHeaderRead(ref SpanByte input) => input.Length > 0 && input.AsReadOnlySpan()[0] == ProfileInput.ReadHeader;

    /// <summary>
    /// Copies at most the fixed header: the caller's buffer is header-sized, so nothing is allocated
    /// (a larger value would otherwise be copied to pooled memory).
    /// </summary>
    static bool CopyHeader(ref SpanByte value, ref SpanByteAndMemory dst)
    {
        var source = value.AsReadOnlySpan();
        int n = Math.Min(source.Length, ProfileRecord.HeaderSize);
        if (!dst.IsSpanByte || dst.SpanByte.Length < n)
            throw new InvalidOperationException("a header read needs a buffer of at least the record header's size.");
        source[..n].CopyTo(dst.SpanByte.AsSpan());
        dst.SpanByte.Length = n;
        return true;
    }

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
        ReportHead(ref input, default, ref output);
        return true;
    }

    /// <inheritdoc />
    public override bool InPlaceUpdater(ref SpanByte key, ref SpanByte input, ref SpanByte value, ref SpanByteAndMemory output, ref RMWInfo rmwInfo)
    {
        var current = value.AsSpan();
        if (IsHeadMove(ref input))
            return TryMoveHead(ref input, current, ref rmwInfo);
        if (ProfileRecord.IsAlias(current))
        {
            // A merged-away profile is never written; the engine resolves aliases first. Refuse
            // rather than read the alias as a record.
            rmwInfo.Action = RMWAction.CancelOperation;
            return false;
        }
        if (IsStaleReplay(ref input, current))
            return true;
        ReportHead(ref input, current, ref output);
        // Not for a record already past the limit (it was lowered): a merge, as replay would do, refuses it.
        if (ProfileRecord.UsedLength(current) <= maxProfileBytes && ProfileRecord.TryMergeEventsInPlace(current, Delta(ref input)))
            return true;
        var scratch = MergeScratch.Get(maxProfileBytes);
        int used = ProfileRecord.Merge(current, Delta(ref input), scratch, computed, values, survivorship);
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
        if (IsHeadMove(ref input))
        {
            // Sized by ProfileValueLength as the old value; the spare room is copied as zeros.
            current.CopyTo(destination);
            destination[current.Length..].Clear();
            return TryMoveHead(ref input, destination, ref rmwInfo);
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
        ReportHead(ref input, current, ref output);
        int used = ProfileRecord.Merge(current, Delta(ref input), destination, computed, values, survivorship);
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
