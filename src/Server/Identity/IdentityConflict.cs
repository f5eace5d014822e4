using System.Buffers;
using MessagePack;

namespace Cdp.Server.Identity;

/// <summary>An identifier a write carried but the identity rules left unlinked, kept on the profile the write landed on.</summary>
/// <param name="Seq">Sequence number of the write.</param>
/// <param name="At">When the write was received, Unix ms.</param>
/// <param name="Type">Identifier type.</param>
/// <param name="Value">Normalised value.</param>
/// <param name="Owner">The profile that holds the identifier; 0 when none does.</param>
/// <param name="Reason">The rule it would have broken.</param>
public sealed record IdentityConflict(ulong Seq, long At, string Type, string Value, ulong Owner, string Reason)
{
    /// <summary>Encodes a list as a MessagePack array of 6-element arrays.</summary>
    public static byte[] Encode(IReadOnlyList<IdentityConflict> list)
    {
        var buffer = new ArrayBufferWriter<byte>(64 * list.Count + 8);
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(list.Count);
        foreach (var c in list)
        {
            w.WriteArrayHeader(6);
            w.Write(c.Seq);
            w.Write(c.At);
            w.Write(c.Type);
            w.Write(c.Value);
            w.Write(c.Owner);
            w.Write(c.Reason);
        }
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Decodes what <see cref="Encode"/> wrote.</summary>
    public static List<IdentityConflict> Decode(ReadOnlyMemory<byte> bytes)
    {
        var r = new MessagePackReader(bytes);
        int n = r.ReadArrayHeader();
        var list = new List<IdentityConflict>(n);
        for (int i = 0; i < n; i++)
        {
            if (r.ReadArrayHeader() != 6)
                throw new InvalidDataException("a stored identity conflict is not a 6-element array");
            list.Add(new IdentityConflict(r.ReadUInt64(), r.ReadInt64(), r.ReadString()!, r.ReadString()!, r.ReadUInt64(), r.ReadString()!));
        }
        return list;
    }
}
