using System.Text.Json;

namespace Cdp.Server.Import;

/// <summary>
/// Picks the identifier an import row is routed by, from its raw bytes and without parsing it into
/// a command: rows with the same key go to the same worker and are applied in file order. NDJSON
/// rows route by <c>userId</c>, else <c>anonymousId</c>, else an <c>email</c> anywhere, else the first
/// value of the <c>identifiers</c> extension; CSV rows by their first identifier column. Rows of one
/// person that name them differently (a userId here, only an e-mail there) may be applied in
/// either order, which matters only for values without a timestamp.
/// </summary>
public static class RowPartition
{
    /// <summary>The routing key of an NDJSON row; empty when it has none (or is not JSON: a worker will reject it).</summary>
    public static ReadOnlySpan<byte> JsonKey(ReadOnlySpan<byte> row)
    {
        ReadOnlySpan<byte> userId = default, anonymousId = default, email = default, other = default;
        var reader = new Utf8JsonReader(row, new JsonReaderOptions { MaxDepth = 16 });
        int identifiersDepth = -1;
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == identifiersDepth)
                    identifiersDepth = -1;
                if (reader.TokenType != JsonTokenType.PropertyName)
                    continue;
                bool top = reader.CurrentDepth == 1;
                bool isUser = top && reader.ValueTextEquals("userId"u8);
                bool isAnonymous = top && reader.ValueTextEquals("anonymousId"u8);
                bool isEmail = reader.ValueTextEquals("email"u8);
                bool isIdentifiers = top && reader.ValueTextEquals("identifiers"u8);
                bool inIdentifiers = identifiersDepth >= 0 && reader.CurrentDepth == identifiersDepth + 1;
                if (!reader.Read())
                    break;
                if (isIdentifiers && reader.TokenType == JsonTokenType.StartObject)
                    identifiersDepth = reader.CurrentDepth;
                if (reader.TokenType != JsonTokenType.String || reader.ValueIsEscaped || reader.HasValueSequence)
                    continue;
                if (isUser) userId = reader.ValueSpan;
                else if (isAnonymous) anonymousId = reader.ValueSpan;
                else if (isEmail && email.IsEmpty) email = reader.ValueSpan;
                else if (inIdentifiers && other.IsEmpty) other = reader.ValueSpan;
            }
        }
        catch (JsonException)
        {
            return row;
        }
        return !userId.IsEmpty ? userId : !anonymousId.IsEmpty ? anonymousId : !email.IsEmpty ? email : other;
    }

    /// <summary>A hash of a key (per process: routing needs no stability across runs).</summary>
    public static int Hash(ReadOnlySpan<byte> key)
    {
        var hash = new HashCode();
        hash.AddBytes(key);
        return hash.ToHashCode();
    }
}
