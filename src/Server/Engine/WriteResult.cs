namespace Cdp.Server.Engine;

/// <summary>What a successful write did. <see cref="JournalAddress"/> is where the caller waits for durability.</summary>
/// <param name="MasterId">The profile the write landed on.</param>
/// <param name="Created">True when this write created the profile.</param>
/// <param name="Duplicate">True when the messageId had been applied before and nothing was done.</param>
/// <param name="JournalAddress">Journal position that must be committed before the write is acknowledged.</param>
public readonly record struct WriteResult(ulong MasterId, bool Created, bool Duplicate, long JournalAddress);
