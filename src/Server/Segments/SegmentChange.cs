namespace Cdp.Server.Segments;

/// <summary>Why a profile entered or left a segment.</summary>
public enum SegmentChangeReason : byte
{
    /// <summary>A write (track, identify, alias, import row) changed what the rule reads.</summary>
    Write = 1,
    /// <summary>Time alone: a window moved or a <c>days_since</c> threshold passed.</summary>
    Time = 2,
    /// <summary>A new or changed segment was evaluated over the existing profile.</summary>
    Backfill = 3,
    /// <summary>The profile was merged into another (it leaves everything) or took others in.</summary>
    Merge = 4,
    /// <summary>The profile was rebuilt by an unmerge.</summary>
    Unmerge = 5,
    /// <summary>The segment was deleted.</summary>
    SegmentDeleted = 6,
    /// <summary>The person was erased.</summary>
    Erased = 7,
}

/// <summary>
/// One membership change: <paramref name="ProfileId"/> entered (or left) <paramref name="Segment"/>
/// at <paramref name="At"/> (Unix ms, the engine clock).
/// </summary>
public readonly record struct SegmentChange(ulong ProfileId, string Segment, bool Entered, SegmentChangeReason Reason, long At);
