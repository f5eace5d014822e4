using System.Globalization;
using Cdp.Protocol;
using Cdp.Server.Engine;
using Cdp.Server.Identity;
using Cdp.Server.Profiles;
using Cdp.Server.Schema;

namespace Cdp.Server.Import;

/// <summary>
/// What each column of a CSV of identify rows means, from its header: an identifier type
/// (<c>email</c>, <c>user_id</c>, any configured type), <c>timestamp</c>, <c>messageId</c>,
/// <c>source</c>, <c>traits.x</c> or any other name (a trait). A mapping
/// <c>Header:target,...</c> renames columns first (<c>E-Mail:email,Vorname:traits.first_name,Notes:-</c>;
/// <c>-</c> ignores the column).
/// </summary>
public sealed class CsvMapping
{
    enum Target { Identifier, Trait, Timestamp, MessageId, Source, Ignore }

    readonly (Target Target, string Name)[] columns;
    readonly DeclaredTraits declared;

    readonly int routingColumn;

    CsvMapping((Target, string)[] columns, DeclaredTraits declared)
    {
        this.columns = columns;
        this.declared = declared;
        routingColumn = Array.FindIndex(columns, c => c.Item1 == Target.Identifier);
    }

    /// <summary>
    /// The raw bytes of a row's first identifier column (see <see cref="RowPartition"/>); empty when
    /// the row is too short. Quotes are honoured, not removed.
    /// </summary>
    public ReadOnlySpan<byte> PartitionKey(ReadOnlySpan<byte> row)
    {
        int field = 0, start = 0;
        bool quoted = false;
        for (int i = 0; i < row.Length; i++)
        {
            byte b = row[i];
            if (b == (byte)'"')
                quoted = !quoted;
            else if (b == (byte)',' && !quoted)
            {
                if (field == routingColumn)
                    return row[start..i];
                field++;
                start = i + 1;
            }
        }
        return field == routingColumn ? row[start..] : default;
    }

    /// <summary>Number of columns a row must have.</summary>
    public int ColumnCount => columns.Length;

    /// <summary>Builds the mapping; throws <see cref="EngineException"/> (bad request) when the header or mapping is wrong.</summary>
    public static CsvMapping Create(IReadOnlyList<string> header, string? mapping, IdentifierTypes identifierTypes, DeclaredTraits declared)
    {
        var renames = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!string.IsNullOrWhiteSpace(mapping))
        {
            foreach (var pair in mapping.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                int colon = pair.LastIndexOf(':');
                if (colon <= 0 || colon == pair.Length - 1)
                    throw EngineException.BadRequest(ErrorCode.Malformed, $"mapping entry '{pair}' is not Header:target.", "mapping");
                renames[pair[..colon].Trim()] = pair[(colon + 1)..].Trim();
            }
            foreach (var name in renames.Keys)
                if (!header.Contains(name))
                    throw EngineException.BadRequest(ErrorCode.UnknownField, $"mapping names column '{name}', which the header does not have.", "mapping");
        }
        var columns = new (Target, string)[header.Count];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        bool anyIdentifier = false;
        for (int i = 0; i < header.Count; i++)
        {
            var name = header[i].Trim();
            if (name.Length == 0)
                throw EngineException.BadRequest(ErrorCode.Malformed, $"header column {i + 1} has no name.", "header");
            var target = renames.GetValueOrDefault(name, name);
            (Target, string) column = target switch
            {
                // What an export adds that is not written back: the master id, its times, computed values.
                "-" or "id" or "createdAt" or "updatedAt" => (Target.Ignore, ""),
                _ when target.StartsWith("computed.", StringComparison.Ordinal) => (Target.Ignore, ""),
                "timestamp" => (Target.Timestamp, ""),
                "messageId" => (Target.MessageId, ""),
                "source" => (Target.Source, ""),
                _ when target.StartsWith("traits.", StringComparison.Ordinal) && target.Length > 7 => (Target.Trait, target[7..]),
                _ when target != IdentifierTypes.MasterId && identifierTypes.TryGetId(target.AsSpan(), out _) => (Target.Identifier, target),
                _ => (Target.Trait, target),
            };
            if (column.Item1 != Target.Ignore && !seen.Add(column.Item1 + ":" + column.Item2))
                throw EngineException.BadRequest(ErrorCode.DuplicateKey, $"two columns map to {(column.Item2.Length > 0 ? column.Item2 : target)}.", "header");
            anyIdentifier |= column.Item1 == Target.Identifier;
            columns[i] = column;
        }
        if (!anyIdentifier)
            throw EngineException.BadRequest(ErrorCode.NoIdentifier,
                $"no column is an identifier; name one after an identifier type ({string.Join(", ", identifierTypes.Names.Where(n => n != IdentifierTypes.MasterId))}) or map one.", "header");
        return new CsvMapping(columns, declared);
    }

    /// <summary>Fills <paramref name="command"/> with an identify of one row; throws <see cref="EngineException"/> for a bad row.</summary>
    public void Fill(IReadOnlyList<string> fields, WriteCommand command)
    {
        command.Reset();
        command.Kind = WriteKind.Identify;
        if (fields.Count != columns.Length)
            throw EngineException.BadRequest(ErrorCode.Malformed, $"the row has {fields.Count} fields; the header has {columns.Length}.", "row");
        for (int i = 0; i < columns.Length; i++)
        {
            var value = fields[i];
            if (value.Length == 0)
                continue; // an empty cell says nothing
            var (target, name) = columns[i];
            switch (target)
            {
                case Target.Identifier:
                    command.AddIdentifier(name, value, name);
                    break;
                case Target.Trait:
                    command.AddTrait(name, Convert(name, value), "traits." + name);
                    break;
                case Target.Timestamp:
                    if (!DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
                        throw EngineException.BadRequest(ErrorCode.InvalidTimestamp, $"timestamp '{value}' is not an ISO 8601 date and time.", "timestamp");
                    command.Timestamp = t.ToUnixTimeMilliseconds();
                    break;
                case Target.MessageId:
                    command.MessageId = value;
                    break;
                case Target.Source:
                    command.Source = value;
                    break;
            }
        }
    }

    /// <summary>
    /// CSV cells are text: a declared number, bool or list trait is converted (lists split on <c>|</c>);
    /// what does not convert stays text and fails the declared-type check with the trait's name.
    /// </summary>
    TraitValue Convert(string name, string text)
    {
        if (!declared.TryGetType(name, out var type))
            return TraitValue.String(text);
        switch (type)
        {
            case DeclaredTraitType.Number:
                if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l))
                    return TraitValue.Int(l);
                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d))
                    return TraitValue.Double(d);
                break;
            case DeclaredTraitType.Bool:
                if (bool.TryParse(text, out bool b))
                    return TraitValue.Bool(b);
                break;
            case DeclaredTraitType.List:
                return TraitValue.StringList(text.Split('|'));
        }
        return TraitValue.String(text);
    }
}
