using Cdp.Server.History;
using Cdp.Server.Journal;

namespace Cdp.Server.Engine;

// Right of access: everything held on a person, for the person.
public sealed unsafe partial class EngineSession
{
    /// <summary>
    /// Everything held on the person <paramref name="type"/>/<paramref name="value"/> names: the
    /// profile (every trait with provenance, identifiers, computed values), segment memberships with
    /// since when, identity conflicts, and from the journal every write that made the profile (events
    /// with their properties, trait and consent statements). Null when there is no such profile.
    /// </summary>
    public AccessReport? AccessReport(string type, string value)
    {
        if (GetProfile(type, value, null) is not { } found)
            return null;
        ulong master = found.MasterId;
        var segments = SegmentsOf(master);
        var conflicts = ReadConflicts(master);
        List<HistoryItem>? history = null;
        string? historyMissing = null;
        if (ReadHistoryHead(master) is { } head)
        {
            engine.Journal.CommitNow();
            try
            {
                history = new ProfileHistory(engine.Journal, engine.Keys).Collect([head]);
            }
            catch (HistoryUnavailableException e)
            {
                historyMissing = e.Message;
            }
        }
        else
            historyMissing = "the profile has no history in the journal (it was written before history was kept).";
        // Read last: the report's view must be the one the caller writes out.
        var view = GetProfile(type, value, null)!;
        return new AccessReport(view, segments, conflicts, history?.Select(h => h.Entry).ToList(), historyMissing);
    }
}

/// <summary>What <see cref="EngineSession.AccessReport"/> found; <see cref="View"/> is valid until the session's next read.</summary>
public sealed record AccessReport(ProfileView View, List<(string Name, long Since)> Segments, List<Cdp.Server.Identity.IdentityConflict> Conflicts,
    List<JournalEntry>? Writes, string? HistoryMissing);
