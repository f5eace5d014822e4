namespace Cdp.Server.Journal;

/// <summary>Work that must follow every journal commit, in the committing thread, before its entries are acknowledged.</summary>
public interface IJournalCommitListener
{
    /// <summary>Everything below <paramref name="committedUntilAddress"/> is in the journal's files; make what those entries depend on durable.</summary>
    void AfterCommit(long committedUntilAddress);
}
