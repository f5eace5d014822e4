using System.Globalization;
using System.Text;

namespace Cdp.Server.Rules;

/// <summary>
/// The segment rule language (docs/segments.md): parse and check in one call, and the canonical text
/// of a tree, which names sub-conditions in explanations and parses back to the same tree.
/// </summary>
public static class RuleLanguage
{
    /// <summary>Longest rule text.</summary>
    public const int MaxRuleChars = 8192;
    /// <summary>Deepest nesting of conditions and parentheses.</summary>
    public const int MaxDepth = 64;
    /// <summary>Most items in an <c>in [...]</c> list.</summary>
    public const int MaxListItems = 1000;

    /// <summary>Parses and type-checks <paramref name="text"/>; throws <see cref="RuleException"/> at the first mistake.</summary>
    public static RuleNode Parse(string text, RuleSchema schema)
    {
        if (text.Length > MaxRuleChars)
            throw new RuleException(1, 1, $"the rule is {text.Length} characters long; at most {MaxRuleChars} are allowed");
        var root = RuleParser.Parse(text);
        new RuleTypeChecker(schema).CheckRule(root);
        return root;
    }

    /// <summary>The operator as written.</summary>
    public static string OperatorText(CompareOp op) => op switch
    {
        CompareOp.Eq => "=",
        CompareOp.Ne => "!=",
        CompareOp.Lt => "<",
        CompareOp.Le => "<=",
        CompareOp.Gt => ">",
        _ => ">=",
    };

    /// <summary>Canonical text of <paramref name="node"/>.</summary>
    public static string Format(RuleNode node)
    {
        var sb = new StringBuilder();
        Write(sb, node);
        return sb.ToString();
    }

    static int Precedence(RuleNode node) => node switch
    {
        OrNode => 1,
        AndNode => 2,
        NotNode => 3,
        _ => 4,
    };

    static void Write(StringBuilder sb, RuleNode node)
    {
        switch (node)
        {
            case OrNode o:
                Binary(sb, o, o.Left, " or ", o.Right);
                break;
            case AndNode a:
                Binary(sb, a, a.Left, " and ", a.Right);
                break;
            case NotNode n:
                sb.Append("not ");
                Operand(sb, n.Operand, Precedence(n.Operand) < 3);
                break;
            case CompareNode c:
                Operand(sb, c.Left, Precedence(c.Left) < 4);
                sb.Append(' ').Append(OperatorText(c.Op)).Append(' ');
                Operand(sb, c.Right, Precedence(c.Right) < 4);
                break;
            case InListNode l:
                Operand(sb, l.Value, Precedence(l.Value) < 4);
                sb.Append(" in [");
                for (int i = 0; i < l.Items.Count; i++)
                {
                    if (i > 0)
                        sb.Append(", ");
                    Write(sb, l.Items[i]);
                }
                sb.Append(']');
                break;
            case ContainsNode c:
                Operand(sb, c.Container, Precedence(c.Container) < 4);
                sb.Append(" contains ");
                Operand(sb, c.Item, Precedence(c.Item) < 4);
                break;
            case ExistsNode e:
                sb.Append("exists(");
                Write(sb, e.Field);
                sb.Append(')');
                break;
            case DaysSinceNode d:
                sb.Append("days_since(");
                Write(sb, d.Field);
                sb.Append(')');
                break;
            case InSegmentNode s:
                sb.Append("in_segment(");
                Quote(sb, s.Segment);
                sb.Append(')');
                break;
            case FieldNode f:
                sb.Append(f.Scope switch { FieldScope.Trait => "traits", FieldScope.Computed => "computed", _ => "consent" });
                if (IsName(f.Name))
                    sb.Append('.').Append(f.Name);
                else
                {
                    sb.Append('[');
                    Quote(sb, f.Name);
                    sb.Append(']');
                }
                break;
            case LiteralNode l:
                switch (l.Type)
                {
                    case RuleType.Number:
                        sb.Append(l.Number.ToString("R", CultureInfo.InvariantCulture));
                        break;
                    case RuleType.Bool:
                        sb.Append(l.Bool ? "true" : "false");
                        break;
                    default:
                        Quote(sb, l.Text ?? "");
                        break;
                }
                break;
        }
    }

    // Left-associative: a same-precedence operand on the right keeps its parentheses, so the text
    // parses back to the same tree.
    static void Binary(StringBuilder sb, RuleNode parent, RuleNode left, string op, RuleNode right)
    {
        int p = Precedence(parent);
        Operand(sb, left, Precedence(left) < p);
        sb.Append(op);
        Operand(sb, right, Precedence(right) <= p);
    }

    static void Operand(StringBuilder sb, RuleNode node, bool parenthesise)
    {
        if (parenthesise)
            sb.Append('(');
        Write(sb, node);
        if (parenthesise)
            sb.Append(')');
    }

    static bool IsName(string name)
        => name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    static void Quote(StringBuilder sb, string text)
    {
        sb.Append('"');
        foreach (char c in text)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (char.IsControl(c))
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
