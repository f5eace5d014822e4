namespace Cdp.Server.Rules;

/// <summary>A rule that does not parse or type-check: where (1-based line and column) and why.</summary>
public sealed class RuleException(int line, int column, string reason)
    : Exception($"line {line}, column {column}: {reason}")
{
    /// <summary>Line of the mistake.</summary>
    public int Line { get; } = line;
    /// <summary>Column of the mistake.</summary>
    public int Column { get; } = column;
    /// <summary>What was found and what was expected, without the position.</summary>
    public string Reason { get; } = reason;
}
