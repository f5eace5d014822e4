using System.Buffers.Binary;

namespace Cdp.Server.Segments;

/// <summary>
/// A profile's segment memberships as stored under <c>'m' | master id</c>, so they are part of every
/// checkpoint and need no separate file: <c>i64 nextCheck | u16 count | count x (u32 segment id, i64 since)</c>,
/// entries sorted by segment id. <c>nextCheck</c> is the Unix ms at which a time-dependent rule must
/// be evaluated again for this profile, 0 for never; the scheduler is rebuilt from it at start.
/// </summary>
public static class MembershipRecord
{
    /// <summary>Bytes before the entries.</summary>
    public const int HeaderSize = 10;
    /// <summary>Bytes per entry.</summary>
    public const int EntrySize = 12;
    /// <summary>Most memberships one profile can hold (the record stays below 64 KiB).</summary>
    public const int MaxEntries = 5000;

    /// <summary>Bytes needed for <paramref name="count"/> entries.</summary>
    public static int SizeOf(int count) => HeaderSize + count * EntrySize;

    /// <summary>Reads a stored value into <paramref name="entries"/> (cleared first) and returns its next check time.</summary>
    public static long Read(ReadOnlySpan<byte> value, List<(uint Segment, long Since)> entries)
    {
        entries.Clear();
        if (value.Length < HeaderSize)
            throw new InvalidDataException($"a membership record of {value.Length} bytes is shorter than its header.");
        long next = BinaryPrimitives.ReadInt64LittleEndian(value);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(value[8..]);
        if (value.Length < SizeOf(count))
            throw new InvalidDataException($"a membership record announces {count} entries but holds {value.Length} bytes.");
        for (int i = 0; i < count; i++)
        {
            var e = value.Slice(HeaderSize + i * EntrySize, EntrySize);
            entries.Add((BinaryPrimitives.ReadUInt32LittleEndian(e), BinaryPrimitives.ReadInt64LittleEndian(e[4..])));
        }
        return next;
    }

    /// <summary>Writes <paramref name="entries"/> (sorted by segment id) and returns the length.</summary>
    public static int Write(Span<byte> destination, long nextCheck, List<(uint Segment, long Since)> entries)
    {
        BinaryPrimitives.WriteInt64LittleEndian(destination, nextCheck);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[8..], (ushort)entries.Count);
        for (int i = 0; i < entries.Count; i++)
        {
            var e = destination.Slice(HeaderSize + i * EntrySize, EntrySize);
            BinaryPrimitives.WriteUInt32LittleEndian(e, entries[i].Segment);
            BinaryPrimitives.WriteInt64LittleEndian(e[4..], entries[i].Since);
        }
        return SizeOf(entries.Count);
    }
}
