using System.Text;

namespace Cdp.Server.Import;

/// <summary>
/// RFC 4180 CSV records: fields separated by commas; a field in double quotes may hold commas, line
/// breaks and doubled quotes (<c>""</c> for one quote). UTF-8 throughout.
/// </summary>
public static class CsvRecord
{
    /// <summary>
    /// Whether <paramref name="text"/> (one or more physical lines) ends outside a quoted field, so the
    /// record is complete (see <see cref="CsvQuoteScanner"/>).
    /// </summary>
    public static bool IsComplete(ReadOnlySpan<byte> text)
    {
        var scanner = new CsvQuoteScanner();
        scanner.Feed(text);
        return !scanner.InQuotedField;
    }

    /// <summary>
    /// Splits a complete record into <paramref name="fields"/>. Returns null on success, else what is
    /// wrong and at which column (1-based, in bytes).
    /// </summary>
    public static string? TryParse(ReadOnlySpan<byte> record, List<string> fields)
    {
        fields.Clear();
        // A record read from a file may end with the CR of a CRLF.
        if (!record.IsEmpty && record[^1] == (byte)'\r')
            record = record[..^1];
        var field = new StringBuilder();
        var utf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);
        int i = 0;
        while (true)
        {
            field.Clear();
            if (i < record.Length && record[i] == (byte)'"')
            {
                int start = ++i;
                var bytes = new List<byte>();
                while (true)
                {
                    if (i >= record.Length)
                        return $"column {start}: a quoted field is not closed.";
                    if (record[i] == (byte)'"')
                    {
                        if (i + 1 < record.Length && record[i + 1] == (byte)'"')
                        {
                            bytes.Add((byte)'"');
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    bytes.Add(record[i++]);
                }
                if (i < record.Length && record[i] != (byte)',')
                    return $"column {i + 1}: expected a comma after a closing quote.";
                if (!TryDecode(utf8, bytes.ToArray(), out var text))
                    return $"column {start}: the field is not valid UTF-8.";
                fields.Add(text);
            }
            else
            {
                int start = i;
                while (i < record.Length && record[i] != (byte)',')
                {
                    if (record[i] == (byte)'"')
                        return $"column {i + 1}: a quote inside an unquoted field (quote the field and double the quote).";
                    i++;
                }
                if (!TryDecode(utf8, record[start..i], out var text))
                    return $"column {start + 1}: the field is not valid UTF-8.";
                fields.Add(text);
            }
            if (i >= record.Length)
                return null;
            i++; // the comma
            if (fields.Count >= Cdp.Protocol.ProtocolLimits.MaxCollectionCount)
                return $"a row has at most {Cdp.Protocol.ProtocolLimits.MaxCollectionCount} fields.";
        }
    }

    static bool TryDecode(UTF8Encoding utf8, ReadOnlySpan<byte> bytes, out string text)
    {
        try
        {
            text = utf8.GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            text = "";
            return false;
        }
    }
}

/// <summary>
/// Follows RFC 4180 quoting over bytes fed in pieces: whether the text so far ends inside a quoted
/// field. A quote opens a quoted field only at the start of a field; elsewhere (<c>5'11"</c>) it is
/// an ordinary character, which the parser then reports, so a stray quote costs one row, not the
/// rows after it. Used to find where a record ends, also while skipping a record that is too long.
/// </summary>
public struct CsvQuoteScanner
{
    bool quoted, quoteSeen, started;
    bool fieldStart;

    /// <summary>Whether the bytes fed so far end inside a quoted field (a record going on over a line break).</summary>
    public readonly bool InQuotedField => quoted && !quoteSeen;

    /// <summary>Feeds the next bytes.</summary>
    public void Feed(ReadOnlySpan<byte> bytes)
    {
        if (!started)
        {
            started = true;
            fieldStart = true;
        }
        foreach (byte b in bytes)
        {
            if (quoted)
            {
                if (b == (byte)'"')
                {
                    // A second quote right after one is an escaped quote; a lone one closes the field.
                    quoteSeen = !quoteSeen;
                    continue;
                }
                if (!quoteSeen)
                    continue;
                quoted = quoteSeen = false;
            }
            if (b == (byte)'"' && fieldStart)
            {
                quoted = true;
                fieldStart = false;
                continue;
            }
            fieldStart = b == (byte)',' || b == (byte)'\n';
        }
    }
}
