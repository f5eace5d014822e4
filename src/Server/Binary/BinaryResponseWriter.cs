using System.Buffers;
using System.Buffers.Text;
using Cdp.Protocol;
using Cdp.Server.Engine;
using Cdp.Server.Profiles;
using MessagePack;

namespace Cdp.Server.Binary;

/// <summary>
/// Writes response bodies. Profiles are written straight from the record bytes: names come from the
/// schema's cached UTF-8, so a lookup allocates nothing here.
/// </summary>
public static class BinaryResponseWriter
{
    /// <summary>Writes the Hello reply.</summary>
    public static void WriteHello(IBufferWriter<byte> output, int maxBodyLength)
    {
        var w = new MessagePackWriter(output);
        w.WriteMapHeader(3);
        w.WriteString("version"u8);
        w.Write(FrameHeader.ProtocolVersion);
        w.WriteString("server"u8);
        w.WriteString("cdp/0.1"u8);
        w.WriteString("maxBodyLength"u8);
        w.Write(maxBodyLength);
        w.Flush();
    }

    /// <summary>Writes an erasure's result: <c>{"erased": id, "fragments": n}</c>.</summary>
    public static void WriteErase(IBufferWriter<byte> output, in EraseResult result)
    {
        var w = new MessagePackWriter(output);
        w.WriteMapHeader(2);
        w.WriteString("erased"u8);
        WriteId(ref w, result.ProfileId);
        w.WriteString("fragments"u8);
        w.Write(result.Fragments);
        w.Flush();
    }

    /// <summary>Writes a write's result.</summary>
    public static void WriteResult(IBufferWriter<byte> output, in WriteResult result)
    {
        var w = new MessagePackWriter(output);
        w.WriteMapHeader(result.Rejected is null ? 3 : 4);
        w.WriteString("id"u8);
        WriteId(ref w, result.MasterId);
        w.WriteString("created"u8);
        w.Write(result.Created);
        w.WriteString("duplicate"u8);
        w.Write(result.Duplicate);
        if (result.Rejected is { } rejected)
        {
            // Only with Traits:PartialWrites: what was left out, in the shape of an error body.
            w.WriteString("rejected"u8);
            w.WriteArrayHeader(rejected.Count);
            foreach (var r in rejected)
            {
                w.WriteMapHeader(3);
                w.WriteString("code"u8);
                w.Write(r.Code);
                w.WriteString("message"u8);
                w.Write(r.Detail);
                w.WriteString("field"u8);
                w.Write(r.Field);
            }
        }
        w.Flush();
    }

    /// <summary>Writes the Auth reply: the key's name and scopes (empty when the server has no keys).</summary>
    public static void WriteAuth(IBufferWriter<byte> output, Cdp.Server.Access.ApiKey? key)
    {
        var w = new MessagePackWriter(output);
        w.WriteMapHeader(2);
        w.WriteString("name"u8);
        w.Write(key?.Name ?? "");
        w.WriteString("scopes"u8);
        var scopes = key is null ? [] : new[] { "read", "write", "admin" }.Where((_, i) => (key.Scopes & (Cdp.Server.Access.AccessScope)(1 << i)) != 0).ToArray();
        w.WriteArrayHeader(scopes.Length);
        foreach (var s in scopes)
            w.Write(s);
        w.Flush();
    }

    /// <summary>Writes the Subscribe/Unsubscribe reply: every segment the connection now receives.</summary>
    public static void WriteSegments(IBufferWriter<byte> output, IReadOnlyList<string> segments)
    {
        var w = new MessagePackWriter(output);
        w.WriteMapHeader(1);
        w.WriteString("segments"u8);
        w.WriteArrayHeader(segments.Count);
        foreach (var s in segments)
            w.Write(s);
        w.Flush();
    }

    /// <summary>Writes one SegmentChange push frame (header with the push flag, request id 0, and body).</summary>
    public static void WriteSegmentChangeFrame(System.Buffers.ArrayBufferWriter<byte> output, in Cdp.Server.Segments.SegmentChange change)
    {
        int start = output.WrittenCount;
        output.GetSpan(FrameHeader.Size);
        output.Advance(FrameHeader.Size);
        var w = new MessagePackWriter(output);
        w.WriteMapHeader(5);
        w.WriteString("profile"u8);
        w.Write(change.ProfileId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        w.WriteString("segment"u8);
        w.Write(change.Segment);
        w.WriteString("entered"u8);
        w.Write(change.Entered);
        w.WriteString("reason"u8);
        w.WriteString(change.Reason switch
        {
            Cdp.Server.Segments.SegmentChangeReason.Write => "write"u8,
            Cdp.Server.Segments.SegmentChangeReason.Time => "time"u8,
            Cdp.Server.Segments.SegmentChangeReason.Backfill => "backfill"u8,
            Cdp.Server.Segments.SegmentChangeReason.Merge => "merge"u8,
            Cdp.Server.Segments.SegmentChangeReason.Unmerge => "unmerge"u8,
            Cdp.Server.Segments.SegmentChangeReason.Erased => "erased"u8,
            _ => "segment_deleted"u8,
        });
        w.WriteString("at"u8);
        Cdp.Server.Profiles.TraitValueCodec.WriteTimestamp(ref w, change.At);
        w.Flush();
        PatchPushHeader(output, start);
    }

    /// <summary>Writes the final push of a subscription the server cut off: <c>{"overflow": true}</c>.</summary>
    public static void WriteOverflowFrame(System.Buffers.ArrayBufferWriter<byte> output)
    {
        int start = output.WrittenCount;
        output.GetSpan(FrameHeader.Size);
        output.Advance(FrameHeader.Size);
        var w = new MessagePackWriter(output);
        w.WriteMapHeader(1);
        w.WriteString("overflow"u8);
        w.Write(true);
        w.Flush();
        PatchPushHeader(output, start);
    }

    static void PatchPushHeader(System.Buffers.ArrayBufferWriter<byte> output, int start)
    {
        // ArrayBufferWriter's written memory is contiguous, so the header can be written after the body.
        var written = System.Runtime.InteropServices.MemoryMarshal.AsMemory(output.WrittenMemory).Span;
        new FrameHeader(output.WrittenCount - start - FrameHeader.Size, Opcode.SegmentChange, Status.Ok, FrameHeader.PushFlag, 0).Write(written[start..]);
    }

    /// <summary>Writes an error body.</summary>
    public static void WriteError(IBufferWriter<byte> output, string code, string message, string? field)
    {
        var w = new MessagePackWriter(output);
        w.WriteMapHeader(field is null ? 2 : 3);
        w.WriteString("code"u8);
        w.Write(code);
        w.WriteString("message"u8);
        w.Write(message);
        if (field is not null)
        {
            w.WriteString("field"u8);
            w.Write(field);
        }
        w.Flush();
    }

    /// <summary>Writes a profile as the GetProfile reply.</summary>
    public static void WriteProfile(IBufferWriter<byte> output, ProfileView view)
    {
        var w = new MessagePackWriter(output);
        var record = view.Record;
        // "computed" is present only when the server has computed traits, so that servers without
        // them answer exactly as protocol v1 first shipped.
        bool withComputed = view.HasComputedTraits;
        w.WriteMapHeader(withComputed ? 7 : 6);
        w.WriteString("id"u8);
        WriteId(ref w, view.MasterId);

        // Identifiers are sorted by type, so each type's values are one run.
        w.WriteString("identifiers"u8);
        var reader = new ProfileRecordReader(record, view.SharedValues);
        int types = 0, previous = -1;
        while (reader.NextIdentifier(out var type, out _))
        {
            if (type != previous && view.IncludesIdentifier(type))
                types++;
            previous = type;
        }
        w.WriteMapHeader(types);
        reader = new ProfileRecordReader(record, view.SharedValues);
        bool has = reader.NextIdentifier(out var t, out var v);
        while (has)
        {
            byte current = t;
            var run = reader;
            int n = 1;
            while (run.NextIdentifier(out var t2, out _) && t2 == current)
                n++;
            bool shown = view.IncludesIdentifier(current);
            if (shown)
            {
                w.WriteString(view.IdentifierTypeOf(current));
                w.WriteArrayHeader(n);
            }
            for (int i = 0; i < n; i++)
            {
                if (shown)
                    w.WriteString(v);
                has = reader.NextIdentifier(out t, out v);
            }
        }

        // The map header needs the number of traits the purpose may see, known only after a walk:
        // the entries go to a scratch buffer first, so the record is decoded once instead of twice.
        var scratch = traitScratch ??= new ArrayBufferWriter<byte>(1024);
        scratch.ResetWrittenCount();
        var traits = new MessagePackWriter(scratch);
        int shownTraits = 0;
        reader = new ProfileRecordReader(record, view.SharedValues);
        while (reader.NextTrait(out var trait))
        {
            if (!view.Includes(trait.NameId))
                continue;
            shownTraits++;
            traits.WriteString(view.NameOf(trait.NameId));
            WriteTraitValue(ref traits, trait);
        }
        traits.Flush();
        w.WriteString("traits"u8);
        w.WriteMapHeader(shownTraits);
        w.WriteRaw(scratch.WrittenSpan);

        // The same reader goes on into the events, which follow the traits it has just read.
        w.WriteString("events"u8);
        w.WriteMapHeader(ProfileRecord.EventCount(record));
        while (reader.NextEvent(out var e))
        {
            w.WriteString(view.NameOf(e.NameId));
            w.WriteMapHeader(3);
            w.WriteString("count"u8);
            w.Write(e.Count);
            w.WriteString("first"u8);
            TraitValueCodec.WriteTimestamp(ref w, e.First);
            w.WriteString("last"u8);
            TraitValueCodec.WriteTimestamp(ref w, e.Last);
        }

        if (withComputed)
        {
            w.WriteString("computed"u8);
            var computed = view.ComputedValues;
            w.WriteMapHeader(computed.Count);
            while (computed.Next(out var value))
            {
                w.WriteString(view.ComputedNameOf(value.NameId));
                WriteTraitValue(ref w, value);
            }
        }

        w.WriteString("createdAt"u8);
        TraitValueCodec.WriteTimestamp(ref w, view.CreatedAt);
        w.WriteString("updatedAt"u8);
        TraitValueCodec.WriteTimestamp(ref w, view.UpdatedAt);
        w.Flush();
    }

    /// <summary>A profile's trait entries while their count is not yet known (<see cref="WriteProfile"/>); one per thread.</summary>
    [ThreadStatic] static ArrayBufferWriter<byte>? traitScratch;

    static void WriteTraitValue(ref MessagePackWriter w, in TraitEntry trait)
    {
        switch (trait.Kind)
        {
            case TraitKind.Null: w.WriteNil(); break;
            case TraitKind.False: w.Write(false); break;
            case TraitKind.True: w.Write(true); break;
            case TraitKind.Int: w.Write(trait.Integer); break;
            case TraitKind.Double: w.Write(trait.Number); break;
            case TraitKind.Timestamp: TraitValueCodec.WriteTimestamp(ref w, trait.Integer); break;
            case TraitKind.String: w.WriteString(trait.Utf8); break;
            case TraitKind.StringList:
                var list = trait.List;
                w.WriteArrayHeader(list.Count);
                while (list.Next(out var item))
                    w.WriteString(item);
                break;
        }
    }

    static void WriteId(ref MessagePackWriter w, ulong id)
    {
        // A fixstr: ids have at most 20 digits, so the header is one byte and the
        // digits can be formatted straight into the writer's buffer.
        var span = w.GetSpan(21);
        Utf8Formatter.TryFormat(id, span[1..], out int n);
        span[0] = (byte)(0xa0 | n);
        w.Advance(n + 1);
    }
}
