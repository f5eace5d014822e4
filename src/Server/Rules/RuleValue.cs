using Cdp.Server.Profiles;

namespace Cdp.Server.Rules;

/// <summary>
/// A value read while a rule is evaluated: a field of the profile, a literal or a function result.
/// Strings and lists point into the record, the computed values or the literal's bytes, so reading
/// a value copies nothing. <see cref="TraitKind.Null"/> stands for a missing value.
/// </summary>
public ref struct RuleValue
{
    /// <summary>The kind; Null when missing.</summary>
    public TraitKind Kind;
    /// <summary>Int and Timestamp payload.</summary>
    public long Integer;
    /// <summary>Double payload.</summary>
    public double Number;
    /// <summary>UTF-8 of a String, the encoded items of a StringList.</summary>
    public ReadOnlySpan<byte> Bytes;

    /// <summary>Whether the value is a number (Int or Double).</summary>
    public readonly bool IsNumber => Kind is TraitKind.Int or TraitKind.Double;

    /// <summary>The number as a double.</summary>
    public readonly double AsDouble => Kind == TraitKind.Int ? Integer : Number;
}
