using MessagePack;

namespace Cdp.Server.Profiles;

/// <summary>
/// MessagePack form of a <see cref="TraitValue"/>, shared by the journal and the binary responses:
/// nil, bool, int, float64, str, timestamp (extension -1) and array of str.
/// </summary>
public static class TraitValueCodec
{
    /// <summary>Writes a value.</summary>
    public static void Write(ref MessagePackWriter writer, in TraitValue value)
    {
        switch (value.Kind)
        {
            case TraitKind.Null: writer.WriteNil(); break;
            case TraitKind.False: writer.Write(false); break;
            case TraitKind.True: writer.Write(true); break;
            case TraitKind.Int: writer.Write(value.Integer); break;
            case TraitKind.Double: writer.Write(value.Number); break;
            case TraitKind.String: writer.Write(value.Text); break;
            case TraitKind.Timestamp: WriteTimestamp(ref writer, value.Integer); break;
            case TraitKind.StringList:
                writer.WriteArrayHeader(value.List!.Length);
                foreach (var s in value.List)
                    writer.Write(s);
                break;
        }
    }

    /// <summary>Reads a value written by <see cref="Write"/> (trusted input: the journal).</summary>
    public static TraitValue Read(ref MessagePackReader reader)
    {
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil: reader.ReadNil(); return TraitValue.Null;
            case MessagePackType.Boolean: return TraitValue.Bool(reader.ReadBoolean());
            case MessagePackType.Integer: return TraitValue.Int(reader.ReadInt64());
            case MessagePackType.Float: return TraitValue.Double(reader.ReadDouble());
            case MessagePackType.String: return TraitValue.String(reader.ReadString()!);
            case MessagePackType.Extension: return TraitValue.Timestamp(ToUnixMs(reader.ReadDateTime()));
            case MessagePackType.Array:
                var list = new string[reader.ReadArrayHeader()];
                for (int i = 0; i < list.Length; i++)
                    list[i] = reader.ReadString()!;
                return TraitValue.StringList(list);
            default: throw new InvalidDataException($"unexpected {reader.NextMessagePackType} for a trait value");
        }
    }

    /// <summary>Writes a Unix-ms instant as a MessagePack timestamp (32-bit form when it has no fraction).</summary>
    public static void WriteTimestamp(ref MessagePackWriter writer, long unixMs)
        => writer.Write(DateTime.UnixEpoch.AddTicks(unixMs * TimeSpan.TicksPerMillisecond));

    /// <summary>Converts a UTC <see cref="DateTime"/> to Unix ms, dropping sub-millisecond digits (towards the past).</summary>
    public static long ToUnixMs(DateTime utc)
    {
        long ticks = (utc - DateTime.UnixEpoch).Ticks;
        long ms = ticks / TimeSpan.TicksPerMillisecond;
        return ticks % TimeSpan.TicksPerMillisecond < 0 ? ms - 1 : ms;
    }
}
