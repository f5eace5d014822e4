namespace Cdp.Server.Matching;

/// <summary>
/// How an attribute's values are normalised and compared. The kind picks the comparator and the
/// default Fellegi-Sunter weights (<see cref="MatchAttribute"/>).
/// </summary>
public enum AttributeKind
{
    /// <summary>Personal names: Jaro-Winkler, phonetic blocking.</summary>
    Name,
    /// <summary>Free text such as street names or cities: Jaro-Winkler over the whole value.</summary>
    Text,
    /// <summary>Dates written yyyyMMdd or yyyy-MM-dd: exact, swapped day/month, one-digit typo, year off.</summary>
    Date,
    /// <summary>Postal codes: exact, one character substituted, two adjacent characters transposed.</summary>
    Postcode,
    /// <summary>Phone numbers: digits only; a number that ends with the other's last 8 digits agrees.</summary>
    Phone,
    /// <summary>Short numbers such as street numbers: equal as numbers, or one digit off.</summary>
    Number,
    /// <summary>Identifiers such as a social security number: edit distance.</summary>
    Id,
}
