namespace Cdp.Server.Rules;

/// <summary>The type of a rule expression, checked when the rule is defined.</summary>
public enum RuleType : byte
{
    /// <summary>A condition.</summary>
    Bool,
    /// <summary>A number (integer or decimal).</summary>
    Number,
    /// <summary>Text.</summary>
    String,
    /// <summary>An instant.</summary>
    Timestamp,
    /// <summary>A list of strings.</summary>
    List,
    /// <summary>An undeclared trait: its type is only known per profile, and a mismatch compares false.</summary>
    Any,
}
