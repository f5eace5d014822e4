using System.Globalization;
using System.Text;
using Cdp.Server.Profiles;

namespace Cdp.Server.Computed;

/// <summary>How an <see cref="EventCondition"/> compares.</summary>
public enum ConditionOperator : byte
{
    /// <summary><c>=</c></summary>
    Equal,
    /// <summary><c>!=</c></summary>
    NotEqual,
    /// <summary><c>&lt;</c></summary>
    Less,
    /// <summary><c>&lt;=</c></summary>
    LessOrEqual,
    /// <summary><c>&gt;</c></summary>
    Greater,
    /// <summary><c>&gt;=</c></summary>
    GreaterOrEqual,
    /// <summary><c>exists</c>: the property is present and not null.</summary>
    Exists,
}

/// <summary>
/// One filter of a computed trait on the properties of an event, written in configuration as
/// <c>revenue &gt; 100</c>, <c>currency = "EUR"</c>, <c>gift = true</c> or <c>coupon exists</c>.
/// </summary>
/// <remarks>
/// A comparison with a property that is missing, null or of another type than the literal is false
/// for every operator, <c>!=</c> included: a condition never holds on data it cannot compare.
/// Integers and floats compare as numbers.
/// </remarks>
public sealed class EventCondition
{
    EventCondition(string property, ConditionOperator op, TraitValue literal, string text)
    {
        Property = property;
        Operator = op;
        Literal = literal;
        Text = text;
    }

    /// <summary>The property's (flattened) name.</summary>
    public string Property { get; }
    /// <summary>The comparison.</summary>
    public ConditionOperator Operator { get; }
    /// <summary>The value compared with (unused by <see cref="ConditionOperator.Exists"/>).</summary>
    public TraitValue Literal { get; }
    /// <summary>The condition as configured.</summary>
    public string Text { get; }

    /// <summary>Parses a condition; the error names the position and what was expected.</summary>
    public static EventCondition Parse(string text)
    {
        int p = 0;
        SkipSpaces(text, ref p);
        int start = p;
        while (p < text.Length && !char.IsWhiteSpace(text[p]) && text[p] is not ('=' or '!' or '<' or '>'))
            p++;
        if (p == start)
            throw Error(text, p, "a property name");
        string property = text[start..p];
        SkipSpaces(text, ref p);
        if (string.CompareOrdinal(text, p, "exists", 0, 6) == 0)
        {
            p += 6;
            SkipSpaces(text, ref p);
            if (p != text.Length)
                throw Error(text, p, "the end of the condition after 'exists'");
            return new EventCondition(property, ConditionOperator.Exists, TraitValue.Null, text);
        }
        ConditionOperator op;
        if (Next(text, ref p, "!=")) op = ConditionOperator.NotEqual;
        else if (Next(text, ref p, "<=")) op = ConditionOperator.LessOrEqual;
        else if (Next(text, ref p, ">=")) op = ConditionOperator.GreaterOrEqual;
        else if (Next(text, ref p, "=")) op = ConditionOperator.Equal;
        else if (Next(text, ref p, "<")) op = ConditionOperator.Less;
        else if (Next(text, ref p, ">")) op = ConditionOperator.Greater;
        else throw Error(text, p, "an operator (=, !=, <, <=, >, >=) or 'exists'");
        SkipSpaces(text, ref p);
        var literal = ParseLiteral(text, ref p);
        SkipSpaces(text, ref p);
        if (p != text.Length)
            throw Error(text, p, "the end of the condition");
        if (literal.Kind is TraitKind.String or TraitKind.True or TraitKind.False && op is not (ConditionOperator.Equal or ConditionOperator.NotEqual))
            throw new FormatException($"condition '{text}': {OperatorText(op)} compares numbers; strings and booleans take = or !=.");
        return new EventCondition(property, op, literal, text);
    }

    /// <summary>Whether the event's properties satisfy the condition.</summary>
    public bool Matches(IReadOnlyList<(string Name, TraitValue Value)> properties)
    {
        TraitValue? found = null;
        foreach (var (name, value) in properties)
            if (name == Property)
            {
                found = value;
                break;
            }
        if (found is not { } v || v.Kind == TraitKind.Null)
            return false;
        if (Operator == ConditionOperator.Exists)
            return true;
        if (IsNumber(Literal.Kind))
        {
            if (!IsNumber(v.Kind))
                return false;
            int c = AsDouble(v).CompareTo(AsDouble(Literal));
            return Operator switch
            {
                ConditionOperator.Equal => c == 0,
                ConditionOperator.NotEqual => c != 0,
                ConditionOperator.Less => c < 0,
                ConditionOperator.LessOrEqual => c <= 0,
                ConditionOperator.Greater => c > 0,
                _ => c >= 0,
            };
        }
        bool same = Literal.Kind == TraitKind.String
            ? v.Kind == TraitKind.String && string.Equals(v.Text, Literal.Text, StringComparison.Ordinal)
            : v.Kind is TraitKind.True or TraitKind.False && v.Kind == Literal.Kind;
        bool comparable = Literal.Kind == TraitKind.String ? v.Kind == TraitKind.String : v.Kind is TraitKind.True or TraitKind.False;
        if (!comparable)
            return false;
        return Operator == ConditionOperator.Equal ? same : !same;
    }

    static bool IsNumber(TraitKind k) => k is TraitKind.Int or TraitKind.Double;
    static double AsDouble(TraitValue v) => v.Kind == TraitKind.Int ? v.Integer : v.Number;

    static TraitValue ParseLiteral(string text, ref int p)
    {
        if (p >= text.Length)
            throw Error(text, p, "a value (a number, a \"string\", true or false)");
        if (text[p] == '"')
        {
            var sb = new StringBuilder();
            p++;
            while (true)
            {
                if (p >= text.Length)
                    throw Error(text, p, "a closing quote");
                char c = text[p++];
                if (c == '"')
                    return TraitValue.String(sb.ToString());
                if (c == '\\')
                {
                    if (p >= text.Length || text[p] is not ('"' or '\\'))
                        throw Error(text, p, "\\\" or \\\\ after a backslash");
                    c = text[p++];
                }
                sb.Append(c);
            }
        }
        int start = p;
        while (p < text.Length && !char.IsWhiteSpace(text[p]))
            p++;
        var word = text[start..p];
        if (word == "true") return TraitValue.Bool(true);
        if (word == "false") return TraitValue.Bool(false);
        if (long.TryParse(word, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long i))
            return TraitValue.Int(i);
        if (double.TryParse(word, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d))
            return TraitValue.Double(d);
        throw Error(text, start, "a value (a number, a \"string\", true or false)");
    }

    static bool Next(string text, ref int p, string token)
    {
        if (string.CompareOrdinal(text, p, token, 0, token.Length) != 0)
            return false;
        p += token.Length;
        return true;
    }

    static void SkipSpaces(string text, ref int p)
    {
        while (p < text.Length && char.IsWhiteSpace(text[p]))
            p++;
    }

    static string OperatorText(ConditionOperator op) => op switch
    {
        ConditionOperator.Less => "<",
        ConditionOperator.LessOrEqual => "<=",
        ConditionOperator.Greater => ">",
        _ => ">=",
    };

    static FormatException Error(string text, int position, string expected)
        => new($"condition '{text}', column {position + 1}: expected {expected}.");

    /// <inheritdoc />
    public override string ToString() => Text;
}
