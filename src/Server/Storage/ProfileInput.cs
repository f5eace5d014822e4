namespace Cdp.Server.Storage;

/// <summary>
/// Layout of the RMW input for profile keys: <c>u8 flags | 7 reserved | delta record</c>. The delta
/// starts 8-aligned so the record's fields can be read in place.
/// </summary>
public static class ProfileInput
{
    /// <summary>Bytes before the delta.</summary>
    public const int HeaderSize = 8;

    /// <summary>The write is a journal replay: skip it if the record already holds its sequence number.</summary>
    public const byte Replay = 1;
}
