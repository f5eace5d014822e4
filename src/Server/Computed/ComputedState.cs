using System.Text;
using Cdp.Server.Profiles;

namespace Cdp.Server.Computed;

/// <summary>
/// One cell of a computed trait's state: the aggregate of its events in one bucket (and, for
/// distinct_count and most_frequent, with one property value).
/// </summary>
public ref struct ComputedCell
{
    /// <summary>Bucket index (0 for all-time traits).</summary>
    public long Bucket;
    /// <summary>Events aggregated (count, sum, average, distinct_count, most_frequent).</summary>
    public ulong Count;
    /// <summary>Sum, min or max.</summary>
    public double Number;
    /// <summary>Event time of the first or last event (Unix ms).</summary>
    public long Time;
    /// <summary>Property value: kind byte + payload as in a trait entry (first, last with a property; distinct_count; most_frequent).</summary>
    public ReadOnlySpan<byte> Value;
}

/// <summary>
/// The stored state of a computed trait and everything done with it: built from one event, merged,
/// pruned, evaluated and asked when it next changes.
/// </summary>
/// <remarks>
/// <code>
/// state = varint cell count | cells
/// cell  = zigzag(bucket - previous cell's bucket, starting from 0) | fields by function:
///   count                     varint count
///   sum, average              varint count | number
///   min, max                  number
///   first, last               zigzag(time - bucket start) [| value if the trait has a property]
///   distinct_count, most_frequent   value | varint count
/// number = <see cref="CompactNumber"/>; value = u8 kind | payload (as in a trait entry)
/// </code>
/// Cells are sorted by bucket, or by (value bytes, bucket) when keyed by value, so that a merge is
/// one pass over both states and evaluation of most_frequent sums each value's cells in a row.
/// Every operation is a pure function of its inputs (the "now" of a merge is the write's receive
/// time from the journal), so replaying the journal rebuilds the same bytes.
/// </remarks>
public static class ComputedState
{
    /// <summary>Room reserved in front of a merged state for its length and cell-count varints.</summary>
    const int PrefixReserve = 6;

    /// <summary>
    /// Writes the state one event contributes (length-prefixed, like <see cref="Merge"/>): one cell.
    /// <paramref name="value"/> is the property's value when the trait has a property; returns 0
    /// when the event does not count (no usable value, or its bucket has already left the window).
    /// </summary>
    public static int TryWriteEvent(ComputedTraitDefinition d, long time, long now, TraitValue? value, ref SpanWriter w)
    {
        Span<byte> valueBytes = stackalloc byte[MaxValueBytes];
        scoped var cell = new ComputedCell { Bucket = d.BucketOf(time), Count = 1, Time = time };
        if (d.IsExpired(cell.Bucket, now))
            return 0;
        if (d.Function.IsNumeric())
        {
            if (value is not { Kind: TraitKind.Int or TraitKind.Double } v)
                return 0;
            cell.Number = v.Kind == TraitKind.Int ? v.Integer : v.Number;
        }
        else if (d.Property is not null)
        {
            if (value is not { } v || v.Kind == TraitKind.Null)
                return 0;
            int n = EncodeValue(Normalize(v), valueBytes);
            if (n < 0)
                return 0;
            cell.Value = valueBytes[..n];
        }
        Span<byte> state = stackalloc byte[MaxValueBytes + 48];
        var sw = new SpanWriter(state, 0);
        long previous = 0;
        if (!sw.TryWriteVarint(1) || !TryWriteCell(ref sw, d, cell, ref previous))
            return 0;
        int start = w.Position;
        if (!w.TryWriteVarint((ulong)sw.Position) || !w.TryWrite(state[..sw.Position]))
            return -1;
        return w.Position - start;
    }

    /// <summary>
    /// Merges two states of <paramref name="d"/> (either may be empty), drops cells that left the
    /// window at <paramref name="now"/>, and writes the result behind its length. Returns the bytes
    /// written, 0 when no cell is left (nothing written), or -1 when <paramref name="w"/> is out of room.
    /// </summary>
    public static int Merge(ComputedTraitDefinition d, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, long now, ref SpanWriter w)
    {
        int start = w.Position;
        if (w.Remaining < PrefixReserve)
            return -1;
        w.Skip(PrefixReserve);
        int cellsStart = w.Position;
        bool keyed = d.Function.IsKeyedByValue();
        int room = keyed ? d.MaxValues - CountValues(d, a, now) : int.MaxValue;
        // Bytes bound keyed states too: long values could otherwise outgrow the profile limit and
        // make every later write to the profile fail. Known values keep counting; new ones wait.
        if (keyed && a.Length + b.Length > MaxStateBytes)
            room = 0;
        var ra = new ComputedCellReader(d, a);
        var rb = new ComputedCellReader(d, b);
        bool ha = ra.Next(out var ca), hb = rb.Next(out var cb);
        long previous = 0;
        int cells = 0;
        ReadOnlySpan<byte> lastValue = default;
        bool anyWritten = false;
        while (ha || hb)
        {
            int cmp = !ha ? 1 : !hb ? -1 : Compare(d, ca, cb);
            ComputedCell c;
            if (cmp < 0)
            {
                c = ca;
                ha = ra.Next(out ca);
            }
            else if (cmp > 0)
            {
                c = cb;
                hb = rb.Next(out cb);
                // A value only the incoming state has is new to the profile: admitted while there is room.
                bool known = (anyWritten && c.Value.SequenceEqual(lastValue)) || (ha && c.Value.SequenceEqual(ca.Value));
                if (keyed && !known)
                {
                    if (room <= 0)
                        continue;
                    room--;
                }
            }
            else
            {
                c = Combine(d, ca, cb);
                ha = ra.Next(out ca);
                hb = rb.Next(out cb);
            }
            if (d.IsExpired(c.Bucket, now))
                continue;
            if (!TryWriteCell(ref w, d, c, ref previous))
                return -1;
            lastValue = c.Value;
            anyWritten = true;
            cells++;
        }
        if (cells == 0)
        {
            w.Rewind(start);
            return 0;
        }
        // Now that the sizes are known, the prefix goes in front and the cells move up to meet it.
        int cellBytes = w.Position - cellsStart;
        Span<byte> prefix = stackalloc byte[PrefixReserve + 4];
        int countLength = Varint.Write(prefix[5..], (ulong)cells);
        int lengthLength = Varint.Write(prefix, (ulong)(countLength + cellBytes));
        prefix.Slice(5, countLength).CopyTo(prefix[lengthLength..]);
        int prefixLength = lengthLength + countLength;
        var buffer = w.Buffer;
        buffer.Slice(cellsStart, cellBytes).CopyTo(buffer[(start + prefixLength)..]);
        prefix[..prefixLength].CopyTo(buffer[start..]);
        w.Rewind(start + prefixLength + cellBytes);
        return prefixLength + cellBytes;
    }

    /// <summary>The trait's value at <paramref name="now"/>: the aggregate of the cells in the window.</summary>
    public static ComputedValue Evaluate(ComputedTraitDefinition d, ReadOnlySpan<byte> state, long now)
    {
        var r = new ComputedCellReader(d, state);
        ulong count = 0;
        double number = 0;
        bool any = false;
        long time = 0;
        ReadOnlySpan<byte> value = default;
        // most_frequent: the run of cells of the current value, and the best run so far.
        ReadOnlySpan<byte> runValue = default;
        ulong runCount = 0;
        ulong distinct = 0;
        while (r.Next(out var c))
        {
            if (!d.InWindow(c.Bucket, now))
                continue;
            switch (d.Function)
            {
                case ComputedFunction.Count:
                    count += c.Count;
                    break;
                case ComputedFunction.Sum or ComputedFunction.Average:
                    count += c.Count;
                    number += c.Number;
                    break;
                case ComputedFunction.Min:
                    number = any ? Math.Min(number, c.Number) : c.Number;
                    break;
                case ComputedFunction.Max:
                    number = any ? Math.Max(number, c.Number) : c.Number;
                    break;
                case ComputedFunction.First:
                    if (!any || c.Time < time) { time = c.Time; value = c.Value; }
                    break;
                case ComputedFunction.Last:
                    if (!any || c.Time >= time) { time = c.Time; value = c.Value; }
                    break;
                case ComputedFunction.DistinctCount or ComputedFunction.MostFrequent:
                    if (any && c.Value.SequenceEqual(runValue))
                        runCount += c.Count;
                    else
                    {
                        if (any && runCount > count) { count = runCount; value = runValue; }
                        runValue = c.Value;
                        runCount = c.Count;
                        distinct++;
                    }
                    break;
            }
            any = true;
        }
        if (d.Function == ComputedFunction.MostFrequent && any && runCount > count)
        {
            count = runCount;
            value = runValue;
        }
        return d.Function switch
        {
            ComputedFunction.Count => ComputedValue.OfNumber((long)count),
            ComputedFunction.Sum => ComputedValue.OfNumber(number),
            ComputedFunction.Average => count == 0 ? default : ComputedValue.OfDouble(number / count),
            ComputedFunction.Min or ComputedFunction.Max => any ? ComputedValue.OfNumber(number) : default,
            ComputedFunction.First or ComputedFunction.Last => !any ? default
                : d.Property is null ? ComputedValue.OfTimestamp(time) : ComputedValue.OfEncoded(value),
            ComputedFunction.DistinctCount => ComputedValue.OfNumber((long)distinct),
            _ => any ? ComputedValue.OfEncoded(value) : default,
        };
    }

    /// <summary>When the value next changes without a new event (a bucket enters or leaves the window); <see cref="long.MaxValue"/> when never.</summary>
    public static long NextChange(ComputedTraitDefinition d, ReadOnlySpan<byte> state, long now)
    {
        if (!d.IsWindowed)
            return long.MaxValue;
        var r = new ComputedCellReader(d, state);
        long next = long.MaxValue;
        while (r.Next(out var c))
            next = Math.Min(next, d.NextChangeOf(c.Bucket, now));
        return next;
    }

    /// <summary>Whether <paramref name="state"/> is a well-formed state of <paramref name="d"/>.</summary>
    public static bool IsValid(ComputedTraitDefinition d, ReadOnlySpan<byte> state)
    {
        try
        {
            var r = new ComputedCellReader(d, state);
            while (r.Next(out _)) { }
            return r.Position == state.Length;
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or IndexOutOfRangeException or OverflowException)
        {
            return false;
        }
    }

    static int CountValues(ComputedTraitDefinition d, ReadOnlySpan<byte> state, long now)
    {
        var r = new ComputedCellReader(d, state);
        int n = 0;
        ReadOnlySpan<byte> last = default;
        while (r.Next(out var c))
        {
            if (d.IsExpired(c.Bucket, now) || (n > 0 && c.Value.SequenceEqual(last)))
                continue;
            last = c.Value;
            n++;
        }
        return n;
    }

    static int Compare(ComputedTraitDefinition d, in ComputedCell x, in ComputedCell y)
    {
        if (d.Function.IsKeyedByValue())
        {
            int c = x.Value.SequenceCompareTo(y.Value);
            if (c != 0)
                return c;
        }
        return x.Bucket.CompareTo(y.Bucket);
    }

    // x is the older state's cell, y the newer's: on equal times first keeps x and last takes y,
    // the same tie rule as traits, so replay in journal order gives the same answer.
    static ComputedCell Combine(ComputedTraitDefinition d, ComputedCell x, ComputedCell y)
    {
        var c = x;
        switch (d.Function)
        {
            case ComputedFunction.Count or ComputedFunction.DistinctCount or ComputedFunction.MostFrequent:
                c.Count = x.Count + y.Count;
                break;
            case ComputedFunction.Sum or ComputedFunction.Average:
                c.Count = x.Count + y.Count;
                c.Number = x.Number + y.Number;
                break;
            case ComputedFunction.Min:
                c.Number = Math.Min(x.Number, y.Number);
                break;
            case ComputedFunction.Max:
                c.Number = Math.Max(x.Number, y.Number);
                break;
            case ComputedFunction.First:
                if (y.Time < x.Time) c = y;
                break;
            case ComputedFunction.Last:
                if (y.Time >= x.Time) c = y;
                break;
        }
        return c;
    }

    static bool TryWriteCell(ref SpanWriter w, ComputedTraitDefinition d, in ComputedCell c, ref long previous)
    {
        if (!w.TryWriteZigZag(c.Bucket - previous))
            return false;
        previous = c.Bucket;
        switch (d.Function)
        {
            case ComputedFunction.Count:
                return w.TryWriteVarint(c.Count);
            case ComputedFunction.Sum or ComputedFunction.Average:
                return w.TryWriteVarint(c.Count) && CompactNumber.TryWrite(ref w, c.Number);
            case ComputedFunction.Min or ComputedFunction.Max:
                return CompactNumber.TryWrite(ref w, c.Number);
            case ComputedFunction.First or ComputedFunction.Last:
                return w.TryWriteZigZag(c.Time - c.Bucket * d.BucketMs) && (d.Property is null || w.TryWrite(c.Value));
            default:
                return w.TryWrite(c.Value) && w.TryWriteVarint(c.Count);
        }
    }

    /// <summary>Integral doubles become integers so that 3 and 3.0 are one value.</summary>
    static TraitValue Normalize(TraitValue v)
        => v.Kind == TraitKind.Double && double.IsInteger(v.Number) && Math.Abs(v.Number) < 1L << 53 ? TraitValue.Int((long)v.Number) : v;

    /// <summary>Encodes a value as u8 kind + payload; -1 when it does not fit.</summary>
    internal static int EncodeValue(TraitValue v, Span<byte> destination)
    {
        var w = new SpanWriter(destination, 0);
        if (!w.TryWriteByte((byte)v.Kind))
            return -1;
        bool ok = v.Kind switch
        {
            TraitKind.Int or TraitKind.Timestamp => w.TryWriteZigZag(v.Integer),
            TraitKind.Double => w.TryWriteDouble(v.Number),
            TraitKind.String => w.TryWriteString(v.Text!),
            TraitKind.StringList => TryWriteList(ref w, v.List!),
            _ => true,
        };
        return ok ? w.Position : -1;
    }

    static bool TryWriteList(ref SpanWriter w, string[] items)
    {
        if (!w.TryWriteVarint((ulong)items.Length))
            return false;
        foreach (var item in items)
            if (!w.TryWriteString(item))
                return false;
        return true;
    }

    /// <summary>Most bytes a property value may take in a state; longer values are not aggregated (first, last, distinct_count, most_frequent).</summary>
    public const int MaxValueBytes = 256;

    /// <summary>
    /// Most bytes of a distinct_count or most_frequent state before it stops taking new values (as
    /// when it holds <see cref="ComputedTraitDefinition.MaxValues"/> values).
    /// </summary>
    public const int MaxStateBytes = 8 * 1024;

    /// <summary>A state's cells in order.</summary>
    public ref struct ComputedCellReader
    {
        readonly ComputedTraitDefinition d;
        readonly ReadOnlySpan<byte> s;
        int left;
        long previous;

        /// <summary>Starts at the first cell (an empty span is an empty state).</summary>
        public ComputedCellReader(ComputedTraitDefinition d, ReadOnlySpan<byte> state)
        {
            this.d = d;
            s = state;
            if (state.IsEmpty)
                return;
            left = checked((int)Varint.Read(state, out int n));
            Position = n;
        }

        /// <summary>Offset of the next cell.</summary>
        public int Position { get; private set; }

        /// <summary>Reads the next cell; false at the end.</summary>
        public bool Next(out ComputedCell c)
        {
            c = default;
            if (left == 0)
                return false;
            left--;
            var t = s[Position..];
            c.Bucket = previous + Varint.ReadZigZag(t, out int p);
            previous = c.Bucket;
            int n;
            switch (d.Function)
            {
                case ComputedFunction.Count:
                    c.Count = Varint.Read(t[p..], out n); p += n;
                    break;
                case ComputedFunction.Sum or ComputedFunction.Average:
                    c.Count = Varint.Read(t[p..], out n); p += n;
                    c.Number = CompactNumber.Read(t[p..], out n); p += n;
                    break;
                case ComputedFunction.Min or ComputedFunction.Max:
                    c.Number = CompactNumber.Read(t[p..], out n); p += n;
                    break;
                case ComputedFunction.First or ComputedFunction.Last:
                    c.Time = c.Bucket * d.BucketMs + Varint.ReadZigZag(t[p..], out n); p += n;
                    if (d.Property is not null)
                    {
                        n = 1 + TraitPayload.Length((TraitKind)t[p], t[(p + 1)..]);
                        c.Value = t.Slice(p, n); p += n;
                    }
                    break;
                default:
                    n = 1 + TraitPayload.Length((TraitKind)t[p], t[(p + 1)..]);
                    c.Value = t.Slice(p, n); p += n;
                    c.Count = Varint.Read(t[p..], out n); p += n;
                    break;
            }
            if (p > t.Length)
                throw new ArgumentOutOfRangeException(nameof(c), "cell runs past the state");
            Position += p;
            return true;
        }
    }
}
