namespace Cdp.Server.Rules;

/// <summary>
/// Recursive descent over <see cref="RuleLexer"/> tokens. Precedence, loosest first: <c>or</c>,
/// <c>and</c>, <c>not</c>, then a comparison, <c>in [...]</c> or <c>contains</c> between operands
/// (fields, constants, functions, parenthesised conditions). Every error names the token where the
/// rule went wrong and what was expected there.
/// </summary>
public sealed class RuleParser
{
    readonly RuleLexer lexer;
    RuleToken current;
    int depth;

    RuleParser(string text)
    {
        lexer = new RuleLexer(text);
        current = lexer.Next();
    }

    /// <summary>Parses <paramref name="text"/> into an unchecked tree. Nesting (parentheses and <c>not</c>) is bounded, so the recursion is too.</summary>
    public static RuleNode Parse(string text)
    {
        var parser = new RuleParser(text);
        if (parser.current.Kind == RuleTokenKind.End)
            throw new RuleException(parser.current.Line, parser.current.Column, "the rule is empty; expected a condition such as traits.country = \"DE\"");
        var node = parser.ParseOr();
        if (parser.current.Kind != RuleTokenKind.End)
            throw parser.Error($"unexpected {parser.current.Describe()} after the end of the rule; expected 'and', 'or' or nothing");
        return node;
    }

    RuleException Error(string reason) => new(current.Line, current.Column, reason);

    RuleToken Take()
    {
        var t = current;
        current = lexer.Next();
        return t;
    }

    void Enter()
    {
        if (++depth > RuleLanguage.MaxDepth)
            throw Error($"the rule nests deeper than {RuleLanguage.MaxDepth} levels");
    }

    RuleNode ParseOr()
    {
        var left = ParseAnd();
        while (current.Is("or"))
        {
            Take();
            left = new OrNode(left, ParseAnd());
        }
        return left;
    }

    RuleNode ParseAnd()
    {
        var left = ParseNot();
        while (current.Is("and"))
        {
            Take();
            left = new AndNode(left, ParseNot());
        }
        return left;
    }

    RuleNode ParseNot()
    {
        if (!current.Is("not"))
            return ParsePredicate();
        Enter();
        var not = Take();
        if (current.Kind == RuleTokenKind.End)
            throw Error("expected a condition after 'not' but found the end of the rule");
        var operand = ParseNot();
        depth--;
        return new NotNode(not.Line, not.Column, operand);
    }

    RuleNode ParsePredicate()
    {
        var left = ParseOperand("a condition");
        if (current.Kind == RuleTokenKind.Symbol && current.Text is "=" or "==" or "!=" or "<" or "<=" or ">" or ">=")
        {
            var op = Take();
            var right = ParseOperand($"a value after '{op.Text}'");
            return new CompareNode(op.Text switch
            {
                "=" or "==" => CompareOp.Eq,
                "!=" => CompareOp.Ne,
                "<" => CompareOp.Lt,
                "<=" => CompareOp.Le,
                ">" => CompareOp.Gt,
                _ => CompareOp.Ge,
            }, left, right);
        }
        if (current.Is("in"))
        {
            Take();
            return new InListNode(left, ParseList());
        }
        if (current.Is("contains"))
        {
            var op = Take();
            return new ContainsNode(left, ParseOperand($"a value after '{op.Text}'"));
        }
        return left;
    }

    List<LiteralNode> ParseList()
    {
        if (!current.Is("["))
            throw Error($"expected '[' to start the list after 'in' but found {current.Describe()}");
        var open = Take();
        var items = new List<LiteralNode>();
        if (current.Is("]"))
            throw Error("the list is empty; name at least one value");
        while (true)
        {
            if (items.Count == RuleLanguage.MaxListItems)
                throw Error($"the list has more than {RuleLanguage.MaxListItems} items");
            var start = current;
            var item = ParseOperand("a value in the list");
            if (item is not LiteralNode literal)
                throw new RuleException(start.Line, start.Column, "list items must be constants (strings, numbers, true or false)");
            items.Add(literal);
            if (current.Is(","))
            {
                Take();
                continue;
            }
            if (current.Is("]"))
            {
                Take();
                return items;
            }
            throw Error($"expected ',' or ']' in the list opened at line {open.Line}, column {open.Column} but found {current.Describe()}");
        }
    }

    RuleNode ParseOperand(string expected)
    {
        var t = current;
        switch (t.Kind)
        {
            case RuleTokenKind.End:
                throw Error($"expected {expected} but found the end of the rule");
            case RuleTokenKind.Number:
                Take();
                return LiteralNode.OfNumber(t.Line, t.Column, t.Number);
            case RuleTokenKind.String:
                Take();
                return LiteralNode.OfString(t.Line, t.Column, t.Text);
            case RuleTokenKind.Symbol when t.Text == "-":
                Take();
                if (current.Kind != RuleTokenKind.Number)
                    throw Error($"expected a number after '-' but found {current.Describe()}");
                var n = Take();
                return LiteralNode.OfNumber(t.Line, t.Column, -n.Number);
            case RuleTokenKind.Symbol when t.Text == "(":
            {
                Enter();
                Take();
                var inner = ParseOr();
                depth--;
                if (!current.Is(")"))
                    throw Error($"expected ')' to close '(' at line {t.Line}, column {t.Column} but found {current.Describe()}");
                Take();
                return inner;
            }
            case RuleTokenKind.Word:
                return ParseWord(expected);
            default:
                throw Error($"expected {expected} but found {t.Describe()}");
        }
    }

    RuleNode ParseWord(string expected)
    {
        var t = current;
        switch (t.Text)
        {
            case "true" or "false":
                Take();
                return LiteralNode.OfBool(t.Line, t.Column, t.Text == "true");
            case "null":
                throw Error("null is not a value; use exists(traits.x) or not exists(traits.x)");
            case "event":
                throw Error("event is only available in trigger rules, not in segment rules");
            case "and" or "or" or "in" or "contains" or "not":
                throw Error($"expected {expected} but found '{t.Text}'");
            case "traits" or "computed" or "consent":
                return ParseField();
        }
        Take();
        if (current.Is("("))
            return ParseCall(t);
        if (current.Is("."))
            throw new RuleException(t.Line, t.Column, $"unknown field scope '{t.Text}'; fields are traits.<name>, computed.<name> or consent.<purpose>");
        throw new RuleException(t.Line, t.Column, $"expected {expected} but found '{t.Text}': a field is written traits.{t.Text}, computed.{t.Text} or consent.{t.Text}, and text in double quotes");
    }

    FieldNode ParseField()
    {
        var scope = Take();
        string name;
        if (current.Is("."))
        {
            Take();
            if (current.Kind != RuleTokenKind.Word)
                throw Error($"expected a name after '{scope.Text}.' but found {current.Describe()}");
            name = Take().Text;
        }
        else if (current.Is("["))
        {
            Take();
            if (current.Kind != RuleTokenKind.String)
                throw Error($"expected a name in double quotes after '{scope.Text}[' but found {current.Describe()}");
            name = Take().Text;
            if (!current.Is("]"))
                throw Error($"expected ']' after the name but found {current.Describe()}");
            Take();
        }
        else
            throw Error($"expected '.' or '[' after '{scope.Text}' but found {current.Describe()}");
        var fieldScope = scope.Text switch
        {
            "traits" => FieldScope.Trait,
            "computed" => FieldScope.Computed,
            _ => FieldScope.Consent,
        };
        return new FieldNode(scope.Line, scope.Column, fieldScope, name);
    }

    RuleNode ParseCall(RuleToken name)
    {
        if (name.Text is not ("exists" or "days_since" or "in_segment"))
            throw new RuleException(name.Line, name.Column, $"unknown function '{name.Text}'; the functions are exists(field), days_since(field) and in_segment(\"name\")");
        var open = Take();
        RuleNode node;
        if (name.Text == "in_segment")
        {
            if (current.Kind != RuleTokenKind.String)
                throw Error($"in_segment takes one segment name in double quotes, e.g. in_segment(\"vip\"); found {current.Describe()}");
            var segment = Take();
            node = new InSegmentNode(name.Line, name.Column, segment.Text);
        }
        else
        {
            if (!(current.Kind == RuleTokenKind.Word && current.Text is "traits" or "computed" or "consent"))
                throw Error($"{name.Text} takes one field, e.g. {name.Text}(traits.signup_at); found {current.Describe()}");
            var field = ParseField();
            node = name.Text == "exists" ? new ExistsNode(name.Line, name.Column, field) : new DaysSinceNode(name.Line, name.Column, field);
        }
        if (!current.Is(")"))
            throw Error(current.Is(",")
                ? $"{name.Text} takes one argument"
                : $"expected ')' to close '(' at line {open.Line}, column {open.Column} but found {current.Describe()}");
        Take();
        return node;
    }
}
