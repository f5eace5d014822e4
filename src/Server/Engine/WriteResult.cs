namespace Cdp.Server.Engine;

/// <summary>What a successful write did. <see cref="JournalAddress"/> is where the caller waits for durability.</summary>
/// <param name="MasterId">The profile the write landed on.</param>
/// <param name="Created">True when this write created the profile.</param>
/// <param name="Duplicate">True when the messageId had been applied before and nothing was done.</param>
/// <param name="JournalAddress">Journal position that must be committed before the write is acknowledged.</param>
/// <param name="Rejected">Traits dropped from the write (only with <c>Traits:PartialWrites</c>); null when none.</param>
public readonly record struct WriteResult(ulong MasterId, bool Created, bool Duplicate, long JournalAddress, IReadOnlyList<TraitRejection>? Rejected = null);

/// <summary>A trait left out of a partially applied write, and why.</summary>
/// <param name="Field">Where it was in the request, e.g. <c>traits.age</c>.</param>
/// <param name="Code">Machine-readable reason (<see cref="Cdp.Protocol.ErrorCode"/>).</param>
/// <param name="Detail">Human-readable reason.</param>
public sealed record TraitRejection(string Field, string Code, string Detail);

/// <summary>What an unmerge did.</summary>
/// <param name="KeptId">The profile that kept the identifier the unmerge was addressed by.</param>
/// <param name="SplitId">The profile the split identifiers now belong to.</param>
/// <param name="JournalAddress">Journal position that must be committed before the unmerge is acknowledged.</param>
public readonly record struct UnmergeResult(ulong KeptId, ulong SplitId, long JournalAddress);
