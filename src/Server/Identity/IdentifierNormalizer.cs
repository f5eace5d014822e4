using System.Text;
using Cdp.Protocol;
using Cdp.Server.Engine;

namespace Cdp.Server.Identity;

/// <summary>
/// Turns identifier values into their canonical form before any lookup or storage, so that
/// <c>Ann@Example.com </c> and <c>ann@example.com</c> are one identifier. Every rule lives here and
/// nowhere else, so both transports and journal replay agree.
/// </summary>
public sealed class IdentifierNormalizer
{
    readonly string defaultCountryCode;

    /// <summary>Creates a normaliser; <paramref name="defaultCountryCode"/> (digits only) completes national phone numbers.</summary>
    public IdentifierNormalizer(string defaultCountryCode = "49")
    {
        if (defaultCountryCode.Length is 0 or > 3 || !defaultCountryCode.All(char.IsAsciiDigit) || defaultCountryCode[0] == '0')
            throw new InvalidOperationException($"Identity:DefaultCountryCode must be 1-3 digits without a leading zero, not '{defaultCountryCode}'.");
        this.defaultCountryCode = defaultCountryCode;
    }

    /// <summary>
    /// Normalises <paramref name="value"/> of type <paramref name="typeId"/>; throws an
    /// <c>invalid_identifier</c> error naming <paramref name="field"/> when the value cannot be an identifier of that type.
    /// </summary>
    public string Normalize(byte typeId, string value, string field)
    {
        var trimmed = value.AsSpan().Trim();
        if (trimmed.IsEmpty)
            throw Invalid(field, "must not be empty");
        if (Encoding.UTF8.GetByteCount(trimmed) > ProtocolLimits.MaxIdentifierBytes)
            throw EngineException.BadRequest(ErrorCode.TooLong, $"identifier values are limited to {ProtocolLimits.MaxIdentifierBytes} UTF-8 bytes.", field);
        return typeId switch
        {
            IdentifierTypes.Email => NormalizeEmail(trimmed, field),
            IdentifierTypes.Phone => NormalizePhone(trimmed, field),
            IdentifierTypes.EmailSha256 => NormalizeSha256(trimmed, field),
            _ => trimmed.Length == value.Length ? value : trimmed.ToString(),
        };
    }

    static string NormalizeEmail(ReadOnlySpan<char> value, string field)
    {
        int at = value.IndexOf('@');
        if (at <= 0 || at == value.Length - 1 || value[(at + 1)..].Contains('@'))
            throw Invalid(field, "is not an e-mail address (expected one '@' with text on both sides)");
        foreach (var c in value)
            if (char.IsWhiteSpace(c) || char.IsControl(c))
                throw Invalid(field, "is not an e-mail address (contains white space or control characters)");
        return value.ToString().ToLowerInvariant();
    }

    string NormalizePhone(ReadOnlySpan<char> value, string field)
    {
        Span<char> digits = stackalloc char[32];
        int n = 0;
        bool international = false;
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (char.IsAsciiDigit(c))
            {
                if (n == digits.Length)
                    throw Invalid(field, "is not a phone number (too many digits)");
                digits[n++] = c;
            }
            else if (c == '+' && n == 0 && !international)
                international = true;
            else if (c is not (' ' or '-' or '.' or '(' or ')' or '/'))
                throw Invalid(field, $"is not a phone number (unexpected '{c}')");
        }
        var d = digits[..n];
        string number;
        if (international)
            number = d.ToString();
        else if (d.StartsWith("00"))
            number = d[2..].ToString();
        else if (d.StartsWith("0"))
            number = defaultCountryCode + d[1..].ToString();
        else
            number = defaultCountryCode + d.ToString();
        if (number.Length is < 8 or > 15 || number[0] == '0')
            throw Invalid(field, "is not a phone number (E.164 needs 8 to 15 digits and a country code)");
        return "+" + number;
    }

    static string NormalizeSha256(ReadOnlySpan<char> value, string field)
    {
        if (value.Length != 64 || !value.ContainsOnlyHex())
            throw Invalid(field, "is not a SHA-256 hash (expected 64 hex digits)");
        return value.ToString().ToLowerInvariant();
    }

    static EngineException Invalid(string field, string what)
        => EngineException.BadRequest(ErrorCode.InvalidIdentifier, $"{field} {what}.", field);
}

file static class SpanHexExtensions
{
    public static bool ContainsOnlyHex(this ReadOnlySpan<char> s)
    {
        foreach (var c in s)
            if (!char.IsAsciiHexDigit(c))
                return false;
        return true;
    }
}
