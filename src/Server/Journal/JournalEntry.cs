using System.Buffers;
using Cdp.Server.Engine;
using Cdp.Server.Profiles;
using MessagePack;

namespace Cdp.Server.Journal;

/// <summary>
/// One accepted write as the journal keeps it: the command with every decision the engine took
/// (normalised identifiers, the master id, the sequence number, the receive time), so that replay
/// repeats the write exactly instead of deciding again. Encoded as a MessagePack array:
/// <c>[4, kind, seq, masterId, created, receivedAt, eventTime, messageId|nil,
/// [[type, value]...], [[name, value]...], event|nil, [[name, value]...], source|nil, [mergedFrom...],
/// [[type, value, owner, reason]...], [[address, side]...], [anchorType, anchorValue, keptId, splitId]|nil]</c>
/// (version 3 ended after mergedFrom, version 2 after source, version 1 before it).
/// </summary>
public sealed class JournalEntry
{
    /// <summary>Format version of the entry.</summary>
    public const int FormatVersion = 4;

    /// <summary>Identify or Track.</summary>
    public WriteKind Kind { get; set; }
    /// <summary>Global sequence number of the write.</summary>
    public ulong Seq { get; set; }
    /// <summary>The profile the write landed on.</summary>
    public ulong MasterId { get; set; }
    /// <summary>The write created the profile.</summary>
    public bool Created { get; set; }
    /// <summary>Server receive time, Unix ms.</summary>
    public long ReceivedAt { get; set; }
    /// <summary>Event time, Unix ms.</summary>
    public long EventTime { get; set; }
    /// <summary>Idempotency key.</summary>
    public string? MessageId { get; set; }
    /// <summary>Normalised identifiers (type id, value).</summary>
    public List<(byte Type, string Value)> Identifiers { get; } = [];
    /// <summary>Traits by name.</summary>
    public List<(string Name, TraitValue Value)> Traits { get; } = [];
    /// <summary>Event name (Track).</summary>
    public string? Event { get; set; }
    /// <summary>Event properties by name.</summary>
    public List<(string Name, TraitValue Value)> Properties { get; } = [];

    /// <summary>Who wrote it (the write's <c>source</c>), kept as each trait's provenance; null when not named.</summary>
    public string? Source { get; set; }

    /// <summary>Profiles this write merged into <see cref="MasterId"/> (their identifiers were linked by it), in order.</summary>
    public List<ulong> MergedFrom { get; } = [];

    /// <summary>Identifiers of the write left unlinked by an identity rule: type, value, the profile holding it (0 if none), why.</summary>
    public List<(byte Type, string Value, ulong Owner, string Reason)> Conflicts { get; } = [];

    /// <summary>
    /// The previous history entries of every profile this entry continues (the master's, then each
    /// merged profile's): the back links that let a profile's history be walked without reading the
    /// rest of the journal. <see cref="HistoryLink.Side"/> says which side of an unmerge it continues.
    /// </summary>
    public List<HistoryLink> Previous { get; } = [];

    /// <summary>For an <see cref="WriteKind.Unmerge"/> entry: how the profile was split.</summary>
    public UnmergeSplit? Unmerge { get; set; }

    /// <summary>Clears the entry for reuse.</summary>
    public void Reset()
    {
        Identifiers.Clear();
        Traits.Clear();
        Properties.Clear();
        MessageId = null;
        Event = null;
        Source = null;
        MergedFrom.Clear();
        Conflicts.Clear();
        Previous.Clear();
        Unmerge = null;
        Created = false;
    }

    /// <summary>Encodes the entry into <paramref name="buffer"/>.</summary>
    public void Write(IBufferWriter<byte> buffer)
    {
        WriteHead(buffer);
        WriteTail(buffer);
    }

    /// <summary>
    /// Most bytes <see cref="WriteTail"/> writes for an entry of <paramref name="links"/> history links and
    /// no unmerge: a writer can encode the head, check the whole entry's size, and only then learn its
    /// links (a write learns its profile's last entry from the same store operation that applies it).
    /// </summary>
    public static int TailBound(int links) => (links < 16 ? 1 : 5) + links * 12 + 1;

    /// <summary>Encodes every field up to the history links (the first part of <see cref="Write"/>).</summary>
    public void WriteHead(IBufferWriter<byte> buffer)
    {
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(17);
        w.Write(FormatVersion);
        w.Write((byte)Kind);
        w.Write(Seq);
        w.Write(MasterId);
        w.Write(Created);
        w.Write(ReceivedAt);
        w.Write(EventTime);
        w.Write(MessageId);
        w.WriteArrayHeader(Identifiers.Count);
        foreach (var (type, value) in Identifiers)
        {
            w.WriteArrayHeader(2);
            w.Write(type);
            w.Write(value);
        }
        WritePairs(ref w, Traits);
        w.Write(Event);
        WritePairs(ref w, Properties);
        w.Write(Source);
        w.WriteArrayHeader(MergedFrom.Count);
        foreach (var m in MergedFrom)
            w.Write(m);
        w.WriteArrayHeader(Conflicts.Count);
        foreach (var (type, value, owner, reason) in Conflicts)
        {
            w.WriteArrayHeader(4);
            w.Write(type);
            w.Write(value);
            w.Write(owner);
            w.Write(reason);
        }
        w.Flush();
    }

    /// <summary>Encodes the history links and the unmerge (the rest of <see cref="Write"/>, after <see cref="WriteHead"/>).</summary>
    public void WriteTail(IBufferWriter<byte> buffer)
    {
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(Previous.Count);
        foreach (var link in Previous)
        {
            w.WriteArrayHeader(2);
            w.Write(link.Address);
            w.Write((byte)link.Side);
        }
        if (Unmerge is { } u)
        {
            w.WriteArrayHeader(4);
            w.Write(u.AnchorType);
            w.Write(u.AnchorValue);
            w.Write(u.KeptId);
            w.Write(u.SplitId);
        }
        else
            w.WriteNil();
        w.Flush();
    }

    static void WritePairs(ref MessagePackWriter w, List<(string Name, TraitValue Value)> pairs)
    {
        w.WriteArrayHeader(pairs.Count);
        foreach (var (name, value) in pairs)
        {
            w.WriteArrayHeader(2);
            w.Write(name);
            TraitValueCodec.Write(ref w, value);
        }
    }

    /// <summary>Decodes an entry; throws <see cref="InvalidDataException"/> on anything unexpected.</summary>
    public static JournalEntry Read(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            var r = new MessagePackReader(bytes);
            var e = new JournalEntry();
            // Version 1 (12 fields) had no source.
            int fields = r.ReadArrayHeader();
            int version = r.ReadInt32();
            if (!(fields == 17 && version == FormatVersion) && !(fields == 14 && version == 3) && !(fields == 13 && version == 2) && !(fields == 12 && version == 1))
                throw new InvalidDataException("unknown journal entry format");
            e.Kind = (WriteKind)r.ReadByte();
            e.Seq = r.ReadUInt64();
            e.MasterId = r.ReadUInt64();
            e.Created = r.ReadBoolean();
            e.ReceivedAt = r.ReadInt64();
            e.EventTime = r.ReadInt64();
            e.MessageId = r.ReadString();
            int identifiers = r.ReadArrayHeader();
            for (int i = 0; i < identifiers; i++)
            {
                r.ReadArrayHeader();
                e.Identifiers.Add((r.ReadByte(), r.ReadString()!));
            }
            ReadPairs(ref r, e.Traits);
            e.Event = r.ReadString();
            ReadPairs(ref r, e.Properties);
            if (fields >= 13)
                e.Source = r.ReadString();
            if (fields >= 14)
            {
                int merged = r.ReadArrayHeader();
                for (int i = 0; i < merged; i++)
                    e.MergedFrom.Add(r.ReadUInt64());
            }
            if (fields >= 17)
            {
                int conflicts = r.ReadArrayHeader();
                for (int i = 0; i < conflicts; i++)
                {
                    if (r.ReadArrayHeader() != 4)
                        throw new InvalidDataException("a conflict is not [type, value, owner, reason]");
                    e.Conflicts.Add((r.ReadByte(), r.ReadString()!, r.ReadUInt64(), r.ReadString()!));
                }
                int previous = r.ReadArrayHeader();
                for (int i = 0; i < previous; i++)
                {
                    if (r.ReadArrayHeader() != 2)
                        throw new InvalidDataException("a history link is not [address, side]");
                    e.Previous.Add(new HistoryLink(r.ReadInt64(), (HistorySide)r.ReadByte()));
                }
                if (!r.TryReadNil())
                {
                    if (r.ReadArrayHeader() != 4)
                        throw new InvalidDataException("an unmerge is not [anchorType, anchorValue, keptId, splitId]");
                    e.Unmerge = new UnmergeSplit(r.ReadByte(), r.ReadString()!, r.ReadUInt64(), r.ReadUInt64());
                }
            }
            if (!r.End)
                throw new InvalidDataException("trailing bytes after a journal entry");
            return e;
        }
        catch (MessagePackSerializationException ex)
        {
            throw new InvalidDataException("corrupt journal entry: " + ex.Message, ex);
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException("truncated journal entry", ex);
        }
    }

    static void ReadPairs(ref MessagePackReader r, List<(string Name, TraitValue Value)> pairs)
    {
        int n = r.ReadArrayHeader();
        for (int i = 0; i < n; i++)
        {
            r.ReadArrayHeader();
            var name = r.ReadString()!;
            pairs.Add((name, TraitValueCodec.Read(ref r)));
        }
    }
}

/// <summary>Which part of a history entry a later entry continues.</summary>
public enum HistorySide : byte
{
    /// <summary>The whole entry (an ordinary write).</summary>
    Whole = 0,
    /// <summary>The side of an unmerge that kept the rest.</summary>
    Kept = 1,
    /// <summary>The side of an unmerge that was split off.</summary>
    Split = 2,
}

/// <summary>A back link in a profile's history: the journal address of an earlier entry and the side of it that continues.</summary>
public readonly record struct HistoryLink(long Address, HistorySide Side);

/// <summary>
/// An unmerge as journalled: the identifier it was addressed by (stays on the kept side), and the
/// master ids of the two sides. The split identifiers are the entry's identifiers.
/// </summary>
public sealed record UnmergeSplit(byte AnchorType, string AnchorValue, ulong KeptId, ulong SplitId);
