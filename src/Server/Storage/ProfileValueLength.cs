using Cdp.Server.Computed;
using Cdp.Server.Profiles;
using FASTER.core;

namespace Cdp.Server.Storage;

/// <summary>
/// Tells FASTER how large a profile value must be before it creates or copy-updates one. The size
/// comes from actually merging, so a profile grows by exactly what the write adds plus headroom.
/// </summary>
public sealed class ProfileValueLength : IVariableLengthStruct<SpanByte, SpanByte>
{
    readonly int maxProfileBytes;
    readonly ComputedTraitCatalog computed;
    readonly TraitSurvivorship survivorship;
    readonly SharedValueTable values;

    /// <summary>Creates the sizing policy for profiles up to <paramref name="maxProfileBytes"/>.</summary>
    public ProfileValueLength(int maxProfileBytes, ComputedTraitCatalog computed, TraitSurvivorship survivorship, SharedValueTable values)
    {
        this.maxProfileBytes = maxProfileBytes;
        this.computed = computed;
        this.survivorship = survivorship;
        this.values = values;
    }

    /// <summary>
    /// Capacity for a record that uses <paramref name="used"/> bytes: a quarter extra (at least 64 bytes)
    /// so most later writes update in place, rounded up to a <see cref="Fit"/>.
    /// </summary>
    public static int Capacity(int used) => Fit(used + Math.Max(64, used / 4));

    /// <summary>
    /// Capacity of a new record: what it uses, rounded up to a <see cref="Fit"/>. Many profiles are written once
    /// (loaded from a CRM, or a visitor who never returns), so headroom is given only to a record
    /// that has been updated (<see cref="Capacity"/>), i.e. that is likely to be updated again.
    /// </summary>
    public static int InitialCapacity(int used) => Fit(used);

    /// <summary>
    /// The smallest capacity of at least <paramref name="bytes"/> that leaves no padding in the log. A profile
    /// record is 8 (record header) + 8 or 16 (key: its length and 4 or 9 bytes, aligned to 8) + 4 (value length)
    /// + capacity bytes, and FASTER rounds every record up to 8: a capacity of 4 more than a multiple of 8 makes
    /// the record end on that boundary, so the bytes that rounding would waste are room to grow instead.
    /// </summary>
    public static int Fit(int bytes) => ((bytes + 4 + 7) & ~7) - 4;

    /// <inheritdoc />
    public int GetInitialLength(ref SpanByte input)
    {
        // A head move never creates a record (StoreFunctions.NeedInitialUpdate); any size will do.
        if (ProfileInput.IsHeadMove(input.AsReadOnlySpan()))
            return sizeof(int) + ProfileRecord.HeaderSize;
        var delta = input.AsReadOnlySpan()[ProfileInput.HeaderSize..];
        return sizeof(int) + InitialCapacity(ProfileRecord.UsedLength(delta));
    }

    /// <inheritdoc />
    public int GetLength(ref SpanByte t, ref SpanByte input)
    {
        var delta = input.AsReadOnlySpan()[ProfileInput.HeaderSize..];
        // Same size: the copy-updater refuses aliases, and a head move changes no length.
        if (ProfileRecord.IsAlias(t.AsReadOnlySpan()) || ProfileInput.IsHeadMove(input.AsReadOnlySpan()))
            return sizeof(int) + t.Length;
        var scratch = MergeScratch.Get(maxProfileBytes);
        int used = ProfileRecord.Merge(t.AsReadOnlySpan(), delta, scratch, computed, values, survivorship);
        // Too large: the copy-updater cancels the operation; any valid size will do until then.
        return sizeof(int) + (used < 0 || used > maxProfileBytes ? t.Length : Capacity(used));
    }
}

/// <summary>Per-thread buffer for merges, so sizing and in-place updates allocate nothing.</summary>
static class MergeScratch
{
    [ThreadStatic] static byte[]? buffer;

    public static Span<byte> Get(int maxProfileBytes)
    {
        var b = buffer;
        // Slack beyond the limit: a merge may write a little past its final size before it moves
        // computed cells into place, and the callers compare the result with the limit themselves.
        int size = maxProfileBytes + 64;
        if (b is null || b.Length != size)
            buffer = b = new byte[size];
        return b;
    }
}
