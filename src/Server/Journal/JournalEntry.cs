using System.Buffers;
using Cdp.Server.Engine;
using Cdp.Server.Profiles;
using MessagePack;

namespace Cdp.Server.Journal;

/// <summary>
/// One accepted write as the journal keeps it: the command with every decision the engine took
/// (normalised identifiers, the master id, the sequence number, the receive time), so that replay
/// repeats the write exactly instead of deciding again. Encoded as a MessagePack array:
/// <c>[3, kind, seq, masterId, created, receivedAt, eventTime, messageId|nil,
/// [[type, value]...], [[name, value]...], event|nil, [[name, value]...], source|nil, [mergedFrom...]]</c>
/// (versions 1 and 2 lacked the last two and the last field).
/// </summary>
public sealed class JournalEntry
{
    /// <summary>Format version of the entry.</summary>
    public const int FormatVersion = 3;

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
        Created = false;
    }

    /// <summary>Encodes the entry into <paramref name="buffer"/>.</summary>
    public void Write(IBufferWriter<byte> buffer)
    {
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(14);
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
            if (!(fields == 14 && version == FormatVersion) && !(fields == 13 && version == 2) && !(fields == 12 && version == 1))
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
