using System.Buffers;
using System.Text;
using Cdp.Protocol;
using Cdp.Server.Engine;

namespace Cdp.Server.Identity;

/// <summary>
/// Turns identifier values into their canonical form before any lookup or storage, so that
/// <c>Ann@Example.com </c> and <c>ann@example.com</c> are one identifier. Every rule lives here and
/// nowhere else, so both transports and journal replay agree. The rules run on UTF-8 bytes, which is
/// what arrives on the wire and what the store keys hold: a lookup normalises without allocating.
/// </summary>
public sealed class IdentifierNormalizer
{
    /// <summary>Room a normalised value may need: lower-casing can lengthen non-ASCII text.</summary>
    public const int MaxNormalizedBytes = ProtocolLimits.MaxIdentifierBytes * 3;

    readonly byte[] defaultCountryCode;

    /// <summary>Creates a normaliser; <paramref name="defaultCountryCode"/> (digits only) completes national phone numbers.</summary>
    public IdentifierNormalizer(string defaultCountryCode = "49")
    {
        if (defaultCountryCode.Length is 0 or > 3 || !defaultCountryCode.All(char.IsAsciiDigit) || defaultCountryCode[0] == '0')
            throw new InvalidOperationException($"Identity:DefaultCountryCode must be 1-3 digits without a leading zero, not '{defaultCountryCode}'.");
        this.defaultCountryCode = Encoding.ASCII.GetBytes(defaultCountryCode);
    }

    /// <summary>
    /// Normalises the UTF-8 <paramref name="value"/> of type <paramref name="typeId"/> into
    /// <paramref name="destination"/> (at least <see cref="MaxNormalizedBytes"/> long) and returns its
    /// length; throws an <c>invalid_identifier</c> error naming <paramref name="field"/> when the value
    /// cannot be an identifier of that type.
    /// </summary>
    public int Normalize(byte typeId, ReadOnlySpan<byte> value, Span<byte> destination, string field)
    {
        var trimmed = TrimWhiteSpace(value);
        if (trimmed.IsEmpty)
            throw Invalid(field, "must not be empty");
        if (trimmed.Length > ProtocolLimits.MaxIdentifierBytes)
            throw EngineException.BadRequest(ErrorCode.TooLong, $"identifier values are limited to {ProtocolLimits.MaxIdentifierBytes} UTF-8 bytes.", field);
        switch (typeId)
        {
            case IdentifierTypes.Email:
                return NormalizeEmail(trimmed, destination, field);
            case IdentifierTypes.Phone:
                return NormalizePhone(trimmed, destination, field);
            case IdentifierTypes.EmailSha256:
                if (trimmed.Length != 64 || trimmed.IndexOfAnyExcept(HexDigits) >= 0)
                    throw Invalid(field, "is not a SHA-256 hash (expected 64 hex digits)");
                return Ascii.ToLower(trimmed, destination, out int written) == OperationStatus.Done ? written : throw Invalid(field, "is not a SHA-256 hash");
            default:
                trimmed.CopyTo(destination);
                return trimmed.Length;
        }
    }

    /// <summary>The string form of <see cref="Normalize(byte, ReadOnlySpan{byte}, Span{byte}, string)"/>, for callers that hold strings.</summary>
    public string Normalize(byte typeId, string value, string field)
    {
        // Checked before renting: no padding makes 2,048 characters fit in 512 bytes after trimming.
        if (value.Length > 4 * ProtocolLimits.MaxIdentifierBytes)
            throw EngineException.BadRequest(ErrorCode.TooLong, $"identifier values are limited to {ProtocolLimits.MaxIdentifierBytes} UTF-8 bytes.", field);
        var source = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(value.Length));
        Span<byte> destination = stackalloc byte[MaxNormalizedBytes];
        try
        {
            int n = Encoding.UTF8.GetBytes(value, source);
            int length = Normalize(typeId, source.AsSpan(0, n), destination, field);
            // Most values arrive normalised already (the sender's own canonical form): keep the string.
            // Not one with surrogates: a lone one encodes as U+FFFD, which the string would not hold.
            bool unchanged = destination[..length].SequenceEqual(source.AsSpan(0, n)) && value.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') < 0;
            return unchanged ? value : Encoding.UTF8.GetString(destination[..length]);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(source);
        }
    }

    static readonly SearchValues<byte> HexDigits = SearchValues.Create("0123456789abcdefABCDEF"u8);

    static int NormalizeEmail(ReadOnlySpan<byte> value, Span<byte> destination, string field)
    {
        int at = value.IndexOf((byte)'@');
        if (at <= 0 || at == value.Length - 1 || value[(at + 1)..].Contains((byte)'@'))
            throw Invalid(field, "is not an e-mail address (expected one '@' with text on both sides)");
        if (Ascii.IsValid(value))
        {
            foreach (var b in value)
                if (b <= 0x20 || b == 0x7f)
                    throw Invalid(field, "is not an e-mail address (contains white space or control characters)");
            Ascii.ToLower(value, destination, out int written);
            return written;
        }
        // Non-ASCII addresses (internationalised local parts or domains): Unicode lower-casing.
        var remaining = value;
        while (!remaining.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(remaining, out var rune, out int consumed) != OperationStatus.Done)
                throw Invalid(field, "is not valid UTF-8");
            if (Rune.IsWhiteSpace(rune) || Rune.IsControl(rune))
                throw Invalid(field, "is not an e-mail address (contains white space or control characters)");
            remaining = remaining[consumed..];
        }
        var lower = Encoding.UTF8.GetString(value).ToLowerInvariant();
        return Encoding.UTF8.GetBytes(lower, destination);
    }

    int NormalizePhone(ReadOnlySpan<byte> value, Span<byte> destination, string field)
    {
        Span<byte> digits = stackalloc byte[32];
        int n = 0;
        bool international = false;
        for (int i = 0; i < value.Length; i++)
        {
            byte c = value[i];
            if (c is >= (byte)'0' and <= (byte)'9')
            {
                if (n == digits.Length)
                    throw Invalid(field, "is not a phone number (too many digits)");
                digits[n++] = c;
            }
            else if (c == '+' && n == 0 && !international)
                international = true;
            else if (c is not ((byte)' ' or (byte)'-' or (byte)'.' or (byte)'(' or (byte)')' or (byte)'/'))
                throw Invalid(field, $"is not a phone number (unexpected '{Encoding.UTF8.GetString(value.Slice(i, Math.Min(4, value.Length - i)))[0]}')");
        }
        ReadOnlySpan<byte> d = digits[..n];
        ReadOnlySpan<byte> prefix = [];
        if (!international)
        {
            if (d.StartsWith("00"u8))
                d = d[2..];
            else
            {
                prefix = defaultCountryCode;
                if (d.StartsWith("0"u8))
                    d = d[1..];
            }
        }
        int length = prefix.Length + d.Length;
        if (length is < 8 or > 15 || (prefix.IsEmpty && d[0] == '0'))
            throw Invalid(field, "is not a phone number (E.164 needs 8 to 15 digits and a country code)");
        destination[0] = (byte)'+';
        prefix.CopyTo(destination[1..]);
        d.CopyTo(destination[(1 + prefix.Length)..]);
        return 1 + length;
    }

    /// <summary>Trims leading and trailing white space (Unicode's definition, as <see cref="string.Trim()"/>).</summary>
    static ReadOnlySpan<byte> TrimWhiteSpace(ReadOnlySpan<byte> value)
    {
        while (!value.IsEmpty && Rune.DecodeFromUtf8(value, out var first, out int n) == OperationStatus.Done && Rune.IsWhiteSpace(first))
            value = value[n..];
        while (!value.IsEmpty && Rune.DecodeLastFromUtf8(value, out var last, out int n) == OperationStatus.Done && Rune.IsWhiteSpace(last))
            value = value[..^n];
        return value;
    }

    static EngineException Invalid(string field, string what)
        => EngineException.BadRequest(ErrorCode.InvalidIdentifier, $"{field} {what}.", field);
}
