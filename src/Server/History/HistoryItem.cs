using Cdp.Server.Journal;

namespace Cdp.Server.History;

/// <summary>
/// One write as it counts for a profile: the journalled entry, with the identifiers that stayed with
/// this profile (an unmerge leaves a write's identifiers of the other side out).
/// </summary>
/// <param name="Address">Journal address of the entry.</param>
/// <param name="Entry">The write as journalled.</param>
/// <param name="Identifiers">Its identifiers that belong to this profile.</param>
public sealed record HistoryItem(long Address, JournalEntry Entry, IReadOnlyList<(byte Type, string Value)> Identifiers);
