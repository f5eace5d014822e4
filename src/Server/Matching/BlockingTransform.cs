namespace Cdp.Server.Matching;

/// <summary>What part of an attribute's value a blocking key uses.</summary>
public enum BlockingTransform
{
    /// <summary>The whole normalised value.</summary>
    Value,
    /// <summary>The Soundex code, so phonetic misspellings share the key.</summary>
    Soundex,
    /// <summary>The first character, for keys that already carry a selective part.</summary>
    Initial,
    /// <summary>The first four characters of a date: the year.</summary>
    Year,
}
