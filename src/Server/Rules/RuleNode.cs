namespace Cdp.Server.Rules;

/// <summary>A node of a parsed rule, with the position of its first character (1-based) for errors.</summary>
public abstract class RuleNode(int line, int column)
{
    /// <summary>Line of the node's first token.</summary>
    public int Line { get; } = line;
    /// <summary>Column of the node's first token (UTF-16 characters, tabs count one).</summary>
    public int Column { get; } = column;
    /// <summary>The type the checker gave the node.</summary>
    public RuleType Type { get; internal set; }
}

/// <summary><c>a and b</c>.</summary>
public sealed class AndNode(RuleNode left, RuleNode right) : RuleNode(left.Line, left.Column)
{
    /// <summary>Left operand.</summary>
    public RuleNode Left { get; } = left;
    /// <summary>Right operand.</summary>
    public RuleNode Right { get; } = right;
}

/// <summary><c>a or b</c>.</summary>
public sealed class OrNode(RuleNode left, RuleNode right) : RuleNode(left.Line, left.Column)
{
    /// <summary>Left operand.</summary>
    public RuleNode Left { get; } = left;
    /// <summary>Right operand.</summary>
    public RuleNode Right { get; } = right;
}

/// <summary><c>not a</c>.</summary>
public sealed class NotNode(int line, int column, RuleNode operand) : RuleNode(line, column)
{
    /// <summary>The negated condition.</summary>
    public RuleNode Operand { get; } = operand;
}

/// <summary>Comparison operators.</summary>
public enum CompareOp
{
    /// <summary><c>=</c> (also <c>==</c>).</summary>
    Eq,
    /// <summary><c>!=</c>.</summary>
    Ne,
    /// <summary><c>&lt;</c>.</summary>
    Lt,
    /// <summary><c>&lt;=</c>.</summary>
    Le,
    /// <summary><c>&gt;</c>.</summary>
    Gt,
    /// <summary><c>&gt;=</c>.</summary>
    Ge,
}

/// <summary><c>a OP b</c>.</summary>
public sealed class CompareNode(CompareOp op, RuleNode left, RuleNode right) : RuleNode(left.Line, left.Column)
{
    /// <summary>The operator.</summary>
    public CompareOp Op { get; } = op;
    /// <summary>Left side.</summary>
    public RuleNode Left { get; internal set; } = left;
    /// <summary>Right side.</summary>
    public RuleNode Right { get; internal set; } = right;
}

/// <summary><c>a in [x, y]</c>.</summary>
public sealed class InListNode(RuleNode value, IReadOnlyList<LiteralNode> items) : RuleNode(value.Line, value.Column)
{
    /// <summary>The value looked up.</summary>
    public RuleNode Value { get; } = value;
    /// <summary>The constants.</summary>
    public IReadOnlyList<LiteralNode> Items { get; internal set; } = items;
}

/// <summary><c>a contains b</c>.</summary>
public sealed class ContainsNode(RuleNode container, RuleNode item) : RuleNode(container.Line, container.Column)
{
    /// <summary>The text or list searched.</summary>
    public RuleNode Container { get; } = container;
    /// <summary>What is searched for.</summary>
    public RuleNode Item { get; } = item;
}

/// <summary><c>exists(field)</c>.</summary>
public sealed class ExistsNode(int line, int column, FieldNode field) : RuleNode(line, column)
{
    /// <summary>The field.</summary>
    public FieldNode Field { get; } = field;
}

/// <summary><c>days_since(field)</c>: whole days elapsed since the instant the field holds.</summary>
public sealed class DaysSinceNode(int line, int column, FieldNode field) : RuleNode(line, column)
{
    /// <summary>The field.</summary>
    public FieldNode Field { get; } = field;
}

/// <summary><c>in_segment("name")</c>.</summary>
public sealed class InSegmentNode(int line, int column, string segment) : RuleNode(line, column)
{
    /// <summary>The segment read.</summary>
    public string Segment { get; } = segment;
}

/// <summary>Where a field lives.</summary>
public enum FieldScope
{
    /// <summary><c>traits.x</c>.</summary>
    Trait,
    /// <summary><c>computed.x</c> (computed and derived traits).</summary>
    Computed,
    /// <summary><c>consent.x</c>.</summary>
    Consent,
}

/// <summary>A field of the profile.</summary>
public sealed class FieldNode(int line, int column, FieldScope scope, string name) : RuleNode(line, column)
{
    /// <summary>Scope.</summary>
    public FieldScope Scope { get; } = scope;
    /// <summary>Name within the scope.</summary>
    public string Name { get; } = name;
}

/// <summary>A constant.</summary>
public sealed class LiteralNode : RuleNode
{
    LiteralNode(int line, int column, RuleType type, string? text, double number, bool value, long timestamp) : base(line, column)
    {
        Type = type;
        Text = text;
        Number = number;
        Bool = value;
        Timestamp = timestamp;
    }

    /// <summary>A string constant.</summary>
    public static LiteralNode OfString(int line, int column, string text) => new(line, column, RuleType.String, text, 0, false, 0);
    /// <summary>A number constant.</summary>
    public static LiteralNode OfNumber(int line, int column, double number) => new(line, column, RuleType.Number, null, number, false, 0);
    /// <summary>A boolean constant.</summary>
    public static LiteralNode OfBool(int line, int column, bool value) => new(line, column, RuleType.Bool, null, 0, value, 0);
    /// <summary>An instant (a string constant compared with a timestamp field), keeping its text.</summary>
    public static LiteralNode OfTimestamp(int line, int column, string text, long unixMs) => new(line, column, RuleType.Timestamp, text, 0, false, unixMs);

    /// <summary>Text of a string (and the original text of a timestamp).</summary>
    public string? Text { get; }
    /// <summary>Value of a number.</summary>
    public double Number { get; }
    /// <summary>Value of a boolean.</summary>
    public bool Bool { get; }
    /// <summary>Value of a timestamp, Unix ms.</summary>
    public long Timestamp { get; }
}
