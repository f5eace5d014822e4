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

    /// <summary>
    /// Not a delta: <c>u8 flags | 7 reserved | i64 journal address | u8 side</c> moves the record's
    /// history head (formats 4 and 5) and changes nothing else; a missing record is not created.
    /// </summary>
    public const byte SetHistoryHead = 2;

    /// <summary>Whether an RMW input moves the history head rather than carrying a delta.</summary>
    public static bool IsHeadMove(ReadOnlySpan<byte> input) => (input[0] & SetHistoryHead) != 0;

    /// <summary>Bytes of a <see cref="SetHistoryHead"/> input.</summary>
    public const int SetHistoryHeadSize = HeaderSize + 9;

    /// <summary>Read input (one byte): copy only the record's fixed header into the output.</summary>
    public const byte ReadHeader = 4;

    /// <summary>
    /// With a delta: the read-modify-write also reports the record's history head as it was before the
    /// write, into an output of at least <see cref="HeadReportSize"/> bytes: <c>i64 journal address | u8 side |
    /// u8 1 when the record holds a head field (format 4 or later), 0 when it holds none or did not exist</c>.
    /// A write's journal entry links to that head, which saves reading it before the write.
    /// </summary>
    public const byte ReportHead = 8;

    /// <summary>Bytes of the output a <see cref="ReportHead"/> write fills.</summary>
    public const int HeadReportSize = 10;
}
