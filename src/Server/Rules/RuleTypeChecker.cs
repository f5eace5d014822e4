using System.Globalization;

namespace Cdp.Server.Rules;

/// <summary>
/// Gives every node of a parsed rule its type and refuses what cannot be right whatever the data:
/// unknown names, comparisons between different types, orderings of booleans, a number where a
/// condition belongs. A string constant compared with an instant becomes an instant here, once.
/// </summary>
public sealed class RuleTypeChecker(RuleSchema schema)
{
    /// <summary>Checks <paramref name="root"/>, which must be a condition.</summary>
    public void CheckRule(RuleNode root) => Condition(root);

    void Condition(RuleNode node)
    {
        switch (node)
        {
            case AndNode a:
                Condition(a.Left);
                Condition(a.Right);
                break;
            case OrNode o:
                Condition(o.Left);
                Condition(o.Right);
                break;
            case NotNode n:
                Condition(n.Operand);
                break;
            case CompareNode c:
                Compare(c);
                break;
            case InListNode l:
                InList(l);
                break;
            case ContainsNode c:
                Contains(c);
                break;
            case ExistsNode e:
                Field(e.Field);
                break;
            case InSegmentNode s:
                if (!schema.Segments.Contains(s.Segment))
                    throw new RuleException(s.Line, s.Column, $"unknown segment '{s.Segment}'{Suggest(s.Segment, schema.Segments)}");
                break;
            case FieldNode f:
                var type = Field(f);
                if (type is not (RuleType.Bool or RuleType.Any))
                    throw new RuleException(f.Line, f.Column, $"expected a condition but found {Describe(f)}; compare it, e.g. {RuleLanguage.Format(f)} {(type == RuleType.Number ? "> 0" : "= \"...\"")}");
                break;
            default:
                Value(node);
                throw new RuleException(node.Line, node.Column, $"expected a condition but found {Describe(node)}");
        }
        node.Type = RuleType.Bool;
    }

    RuleType Value(RuleNode node)
    {
        switch (node)
        {
            case LiteralNode l:
                return l.Type;
            case FieldNode f:
                return Field(f);
            case DaysSinceNode d:
                var type = Field(d.Field);
                if (type is not (RuleType.Timestamp or RuleType.Any))
                    throw new RuleException(d.Field.Line, d.Field.Column, $"days_since needs an instant, but {RuleLanguage.Format(d.Field)} is {Article(type)}");
                d.Type = RuleType.Number;
                return RuleType.Number;
            default:
                throw new RuleException(node.Line, node.Column, $"expected a value but found a condition ({RuleLanguage.Format(node)}); conditions cannot be compared");
        }
    }

    RuleType Field(FieldNode f)
    {
        RuleType type;
        switch (f.Scope)
        {
            case FieldScope.Trait:
                if (!schema.Traits.TryGetValue(f.Name, out type))
                    throw new RuleException(f.Line, f.Column, $"unknown trait '{f.Name}'{Suggest(f.Name, schema.Traits.Keys)}; declare it under Traits:Declared or write it before defining the rule");
                break;
            case FieldScope.Computed:
                if (!schema.Computed.TryGetValue(f.Name, out type))
                    throw new RuleException(f.Line, f.Column, schema.Computed.Count == 0
                        ? $"unknown computed trait '{f.Name}': none are configured (ComputedTraits)"
                        : $"unknown computed trait '{f.Name}'{Suggest(f.Name, schema.Computed.Keys)}");
                break;
            default:
                if (schema.Purposes.Count == 0)
                    throw new RuleException(f.Line, f.Column, $"no purposes are configured (Cdp:Purposes), so consent.{f.Name} cannot be used");
                if (!schema.Purposes.Contains(f.Name))
                    throw new RuleException(f.Line, f.Column, $"unknown purpose '{f.Name}'{Suggest(f.Name, schema.Purposes)}");
                type = RuleType.Bool;
                break;
        }
        f.Type = type;
        return type;
    }

    void Compare(CompareNode c)
    {
        var left = Value(c.Left);
        var right = Value(c.Right);
        if (c.Left is LiteralNode && c.Right is LiteralNode)
            throw new RuleException(c.Line, c.Column, "the comparison compares two constants; one side must be a field or a function");
        // Text compared with an instant is read as an instant, once, here.
        if (left == RuleType.Timestamp && c.Right is LiteralNode { Type: RuleType.String } rs)
            (c.Right, right) = (ToInstant(rs), RuleType.Timestamp);
        if (right == RuleType.Timestamp && c.Left is LiteralNode { Type: RuleType.String } ls)
            (c.Left, left) = (ToInstant(ls), RuleType.Timestamp);
        bool ordering = c.Op is not (CompareOp.Eq or CompareOp.Ne);
        foreach (var (side, type) in new[] { (c.Left, left), (c.Right, right) })
            if (ordering && type is RuleType.Bool or RuleType.List)
                throw new RuleException(side.Line, side.Column, $"'{RuleLanguage.OperatorText(c.Op)}' orders numbers, instants or text, not {Describe(side)}");
        if (left != right && left != RuleType.Any && right != RuleType.Any)
            throw new RuleException(c.Right.Line, c.Right.Column, $"cannot compare {Describe(c.Left)} with {Describe(c.Right)}");
    }

    void InList(InListNode l)
    {
        var type = Value(l.Value);
        if (l.Value is LiteralNode)
            throw new RuleException(l.Line, l.Column, "'in' looks up a field or function in a list of constants; a constant is on its left");
        if (type == RuleType.List)
            throw new RuleException(l.Line, l.Column, $"'in' compares one value with the list's items, but {Describe(l.Value)}; use contains");
        var items = new List<LiteralNode>(l.Items.Count);
        foreach (var item in l.Items)
        {
            var it = item;
            if (type == RuleType.Timestamp && it.Type == RuleType.String)
                it = ToInstant(it);
            if (type != RuleType.Any && it.Type != type)
                throw new RuleException(it.Line, it.Column, $"every item of the list must be {Article(type)} like {RuleLanguage.Format(l.Value)}, but this one is {Article(it.Type)}");
            items.Add(it);
        }
        l.Items = items;
    }

    void Contains(ContainsNode c)
    {
        var container = Value(c.Container);
        var item = Value(c.Item);
        if (container is not (RuleType.String or RuleType.List or RuleType.Any))
            throw new RuleException(c.Container.Line, c.Container.Column, $"contains searches text or a list, not {Describe(c.Container)}");
        if (item is not (RuleType.String or RuleType.Any))
            throw new RuleException(c.Item.Line, c.Item.Column, $"contains looks for text, not {Describe(c.Item)}");
    }

    static LiteralNode ToInstant(LiteralNode s)
    {
        var text = s.Text!;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var instant)
            && (text.Length >= 10 && char.IsAsciiDigit(text[0])))
            return LiteralNode.OfTimestamp(s.Line, s.Column, text, instant.ToUnixTimeMilliseconds());
        throw new RuleException(s.Line, s.Column, $"\"{text}\" is not an instant; write it as ISO 8601, e.g. \"2026-01-31\" or \"2026-01-31T12:00:00Z\"");
    }

    static string Article(RuleType type) => type switch
    {
        RuleType.Bool => "a boolean",
        RuleType.Number => "a number",
        RuleType.String => "text",
        RuleType.Timestamp => "an instant",
        RuleType.List => "a list",
        _ => "a value of any type",
    };

    static string Describe(RuleNode node) => node switch
    {
        LiteralNode l => Article(l.Type) + " (" + RuleLanguage.Format(l) + ")",
        FieldNode or DaysSinceNode => RuleLanguage.Format(node) + ", " + Article(node.Type),
        _ => Article(node.Type),
    };

    static string Suggest(string name, IEnumerable<string> known)
    {
        string? best = null;
        int bestDistance = 3;
        foreach (var k in known)
        {
            int d = Distance(name, k);
            if (d < bestDistance)
                (best, bestDistance) = (k, d);
        }
        return best is null ? "" : $" (did you mean '{best}'?)";
    }

    static int Distance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 2)
            return 3;
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
            prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
