using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using Cdp.Server.Engine;
using Cdp.Server.Http;
using Cdp.Server.Profiles;
using Cdp.Server.Segments;

namespace Cdp.Server.Export;

/// <summary>
/// Streams every profile out, for analysis: NDJSON (one profile per line, the shape of
/// <c>GET /v1/profiles</c>) or CSV (one row per profile). Profiles are visited by master id, which
/// the engine hands out in sequence, so the export needs no index of its own and constant memory:
/// each profile is read, written and flushed under backpressure before the next. Every profile that
/// existed when the export began appears once, as it was when it was read.
/// </summary>
public static class ProfileExporter
{
    const int FlushBytes = 64 * 1024;

    /// <summary>
    /// The master ids to export: every id handed out when the export began, or a segment's members in
    /// ascending order, a page at a time (a member that joins later with a higher id may appear).
    /// </summary>
    static IEnumerable<ulong> Ids(ulong last, SegmentMembers? members)
    {
        if (members is null)
        {
            for (ulong id = 1; id <= last; id++)
                yield return id;
            yield break;
        }
        var page = new ulong[1024];
        ulong after = 0;
        while (true)
        {
            int n = members.Page(after, page);
            if (n == 0)
                yield break;
            for (int i = 0; i < n; i++)
                yield return page[i];
            after = page[n - 1];
        }
    }

    /// <summary>
    /// Whether a profile goes into an export for <paramref name="purpose"/>: not when the purpose needs
    /// consent the person has not given (the person is left out, as a read would refuse them); when it
    /// does, the view is limited to what the purpose may see.
    /// </summary>
    static bool Admit(ProfileView view, Cdp.Server.Consent.PurposePolicy? purpose)
    {
        if (purpose is null)
            return true;
        if (purpose.RequiresConsent && !view.HasConsent(purpose.ConsentId))
            return false;
        view.SetPurpose(purpose);
        return true;
    }

    /// <summary>Writes NDJSON (every profile, or a segment's <paramref name="members"/>).</summary>
    public static async Task WriteNdjsonAsync(ProfileEngine engine, PipeWriter output, CancellationToken cancellationToken, SegmentMembers? members = null,
        Cdp.Server.Consent.PurposePolicy? purpose = null)
    {
        ulong last = engine.LastMasterId;
        var session = await engine.RentAsync(cancellationToken);
        try
        {
            foreach (ulong id in Ids(last, members))
            {
                var view = session.GetProfileById(id);
                if (view is null || !Admit(view, purpose))
                    continue;
                // Conflicts name identifiers held by other people: only an export for no purpose shows them.
                ProfileJsonWriter.Write(output, view, conflicts: purpose is null ? session.ReadConflicts(id) : null);
                output.Write("\n"u8);
                if (!await FlushWhenFullAsync(output, cancellationToken))
                    return;
            }
        }
        finally
        {
            engine.Return(session);
        }
        await output.FlushAsync(cancellationToken);
    }

    /// <summary>
    /// Writes CSV: <c>id</c>, one column per identifier type (several values joined by <c>|</c>), one
    /// per trait (<c>traits.x</c>), one per computed value (<c>computed.x</c>), <c>createdAt</c>, <c>updatedAt</c>.
    /// Trait columns are <paramref name="fields"/>, or every trait some profile has (found by a
    /// first pass over the profiles, which keeps only a bitmap of trait ids).
    /// </summary>
    public static async Task WriteCsvAsync(ProfileEngine engine, PipeWriter output, IReadOnlyList<string>? fields, CancellationToken cancellationToken, SegmentMembers? members = null,
        Cdp.Server.Consent.PurposePolicy? purpose = null)
    {
        ulong last = engine.LastMasterId;
        var session = await engine.RentAsync(cancellationToken);
        try
        {
            var traitIds = new List<ushort>();
            if (fields is not null)
            {
                foreach (var f in fields)
                    if (engine.Schema.TryGetId(f, out var id) && !engine.Schema.IsConsent(id))
                        traitIds.Add(id);
            }
            else
            {
                var seen = new bool[ushort.MaxValue + 1];
                foreach (ulong id in Ids(last, members))
                {
                    if (session.GetProfileById(id) is not { } view)
                        continue;
                    var r = new ProfileRecordReader(view.Record, view.SharedValues);
                    while (r.NextTrait(out var t))
                        seen[t.NameId] = !engine.Schema.IsConsent(t.NameId);
                }
                for (int i = 0; i < seen.Length; i++)
                    if (seen[i])
                        traitIds.Add((ushort)i);
                traitIds.Sort((a, b) => string.CompareOrdinal(engine.Schema.GetName(a), engine.Schema.GetName(b)));
            }
            if (purpose is not null)
                traitIds.RemoveAll(t => !purpose.AllowsTrait(t));
            var identifierTypes = engine.IdentifierTypes.Names.Where(n => n != Cdp.Server.Identity.IdentifierTypes.MasterId
                && (purpose is null || (engine.IdentifierTypes.TryGetId(n, out byte t) && purpose.AllowsIdentifier(t)))).ToArray();
            var computed = engine.Computed;

            var header = new List<string> { "id" };
            header.AddRange(identifierTypes);
            // "traits." keeps trait columns apart from identifier columns of the same name (email is
            // often both) and lets the CSV importer read an export back.
            header.AddRange(traitIds.Select(id => "traits." + engine.Schema.GetName(id)));
            var computedColumns = new Dictionary<int, int>();
            for (int i = 0; i < computed.Count; i++)
                if (purpose is null || purpose.AllowsComputed(i))
                {
                    computedColumns[i] = header.Count;
                    header.Add("computed." + computed.NameOf(i));
                }
            header.Add("createdAt");
            header.Add("updatedAt");
            WriteRow(output, header);

            var row = new List<string>(header.Count);
            var column = new Dictionary<ushort, int>();
            for (int i = 0; i < traitIds.Count; i++)
                column[traitIds[i]] = 1 + identifierTypes.Length + i;
            foreach (ulong id in Ids(last, members))
            {
                if (session.GetProfileById(id) is not { } view || !Admit(view, purpose))
                    continue;
                row.Clear();
                for (int i = 0; i < header.Count; i++)
                    row.Add("");
                row[0] = view.MasterId.ToString(CultureInfo.InvariantCulture);
                var r = new ProfileRecordReader(view.Record, view.SharedValues);
                while (r.NextIdentifier(out var type, out var value))
                {
                    int at = Array.IndexOf(identifierTypes, view.IdentifierTypeStringOf(type));
                    if (at < 0)
                        continue;
                    int c = 1 + at;
                    var text = Encoding.UTF8.GetString(value);
                    row[c] = row[c].Length == 0 ? text : row[c] + "|" + text;
                }
                r = new ProfileRecordReader(view.Record, view.SharedValues);
                while (r.NextTrait(out var t))
                    if (column.TryGetValue(t.NameId, out int c))
                        row[c] = Format(t);
                var values = view.ComputedValues;
                while (values.Next(out var v))
                    if (computedColumns.TryGetValue(v.NameId, out int c))
                        row[c] = Format(v);
                row[^2] = FormatTime(view.CreatedAt);
                row[^1] = FormatTime(view.UpdatedAt);
                WriteRow(output, row);
                if (!await FlushWhenFullAsync(output, cancellationToken))
                    return;
            }
        }
        finally
        {
            engine.Return(session);
        }
        await output.FlushAsync(cancellationToken);
    }

    /// <summary>
    /// Sends what is buffered once it passes <see cref="FlushBytes"/>, waiting while the client is
    /// slower than the export (the backpressure that keeps memory constant). False when the client
    /// has gone away.
    /// </summary>
    static async ValueTask<bool> FlushWhenFullAsync(PipeWriter output, CancellationToken cancellationToken)
    {
        if (output.UnflushedBytes < FlushBytes)
            return true;
        var flushed = await output.FlushAsync(cancellationToken);
        return !flushed.IsCanceled && !flushed.IsCompleted;
    }

    static string FormatTime(long unixMs) => DateTimeOffset.FromUnixTimeMilliseconds(unixMs).ToString("O", CultureInfo.InvariantCulture);

    static string Format(in TraitEntry t) => t.Kind switch
    {
        TraitKind.Null => "",
        TraitKind.False => "false",
        TraitKind.True => "true",
        TraitKind.Int => t.Integer.ToString(CultureInfo.InvariantCulture),
        TraitKind.Double => t.Number.ToString("R", CultureInfo.InvariantCulture),
        TraitKind.Timestamp => FormatTime(t.Integer),
        TraitKind.String => Encoding.UTF8.GetString(t.Utf8),
        _ => JoinList(t.List),
    };

    static string JoinList(StringListReader list)
    {
        var sb = new StringBuilder();
        while (list.Next(out var item))
        {
            if (sb.Length > 0)
                sb.Append('|');
            sb.Append(Encoding.UTF8.GetString(item));
        }
        return sb.ToString();
    }

    /// <summary>Writes one CSV row, quoting fields that need it (RFC 4180), CRLF-terminated.</summary>
    static void WriteRow(IBufferWriter<byte> output, IReadOnlyList<string> fields)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < fields.Count; i++)
        {
            if (i > 0)
                sb.Append(',');
            var f = fields[i];
            if (f.AsSpan().IndexOfAny(",\"\r\n") >= 0 || (f.Length > 0 && (f[0] == ' ' || f[^1] == ' ')))
                sb.Append('"').Append(f.Replace("\"", "\"\"")).Append('"');
            else
                sb.Append(f);
        }
        sb.Append("\r\n");
        var bytes = Encoding.UTF8.GetBytes(sb.ToString());
        output.Write(bytes);
    }
}
