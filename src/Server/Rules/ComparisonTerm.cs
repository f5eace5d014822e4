using Cdp.Server.Profiles;

namespace Cdp.Server.Rules;

/// <summary>
/// <c>a OP b</c>. A missing value or values of different kinds compare false for every operator
/// (<c>!=</c> too): a rule about a field says nothing about profiles that lack it.
/// </summary>
public sealed class CompareTerm(string text, CompareOp op, ValueTerm left, ValueTerm right) : ConditionTerm(text)
{
    /// <inheritdoc />
    public override bool Holds(RuleContext ctx)
    {
        var a = left.Read(ctx);
        var b = right.Read(ctx);
        if (!TryCompare(a, b, op == CompareOp.Eq || op == CompareOp.Ne, out int c))
            return false;
        return op switch
        {
            CompareOp.Eq => c == 0,
            CompareOp.Ne => c != 0,
            CompareOp.Lt => c < 0,
            CompareOp.Le => c <= 0,
            CompareOp.Gt => c > 0,
            _ => c >= 0,
        };
    }

    /// <inheritdoc />
    public override long NextChange(RuleContext ctx)
    {
        // days_since compared with a constant changes truth only when it crosses that constant.
        if (left is DaysSinceTerm d && right is LiteralTerm l && l.Value.IsNumber)
            return d.NextCrossing(ctx, l.Value.AsDouble);
        if (right is DaysSinceTerm d2 && left is LiteralTerm l2 && l2.Value.IsNumber)
            return d2.NextCrossing(ctx, l2.Value.AsDouble);
        return Math.Min(left.NextChange(ctx), right.NextChange(ctx));
    }

    /// <inheritdoc />
    public override void Explain(RuleContext ctx, int depth, List<RuleExplanation> lines)
        => lines.Add(new RuleExplanation(depth, Text, Holds(ctx), left is LiteralTerm ? right.Describe(ctx) : left.Describe(ctx)));

    /// <summary>
    /// Orders two values of the same kind (numbers of either kind together). False when either is
    /// missing or the kinds differ; booleans and lists compare for equality only.
    /// </summary>
    internal static bool TryCompare(in RuleValue a, in RuleValue b, bool equality, out int result)
    {
        result = 0;
        if (a.Kind == TraitKind.Null || b.Kind == TraitKind.Null)
            return false;
        if (a.IsNumber && b.IsNumber)
        {
            result = a.Kind == TraitKind.Int && b.Kind == TraitKind.Int ? a.Integer.CompareTo(b.Integer) : a.AsDouble.CompareTo(b.AsDouble);
            return !double.IsNaN(a.AsDouble) && !double.IsNaN(b.AsDouble);
        }
        bool aBool = a.Kind is TraitKind.True or TraitKind.False, bBool = b.Kind is TraitKind.True or TraitKind.False;
        if (aBool && bBool)
        {
            result = a.Kind == b.Kind ? 0 : 1;
            return equality;
        }
        if (a.Kind != b.Kind)
            return false;
        switch (a.Kind)
        {
            case TraitKind.Timestamp:
                result = a.Integer.CompareTo(b.Integer);
                return true;
            case TraitKind.String:
                // Ordinal UTF-8 byte order is code point order.
                result = a.Bytes.SequenceCompareTo(b.Bytes);
                return true;
            case TraitKind.StringList:
                result = a.Bytes.SequenceEqual(b.Bytes) ? 0 : 1;
                return equality;
            default:
                return false;
        }
    }
}

/// <summary><c>a in [x, y, ...]</c>: equal to one of the constants.</summary>
public sealed class InListTerm(string text, ValueTerm value, LiteralTerm[] items) : ConditionTerm(text)
{
    /// <inheritdoc />
    public override bool Holds(RuleContext ctx)
    {
        var v = value.Read(ctx);
        if (v.Kind == TraitKind.Null)
            return false;
        foreach (var item in items)
            if (CompareTerm.TryCompare(v, item.Value, equality: true, out int c) && c == 0)
                return true;
        return false;
    }

    /// <inheritdoc />
    public override long NextChange(RuleContext ctx) => value.NextChange(ctx);

    /// <inheritdoc />
    public override void Explain(RuleContext ctx, int depth, List<RuleExplanation> lines)
        => lines.Add(new RuleExplanation(depth, Text, Holds(ctx), value.Describe(ctx)));
}

/// <summary>
/// <c>a contains b</c>: a text holds the text <c>b</c> (case-sensitive), or a list holds an item equal to <c>b</c>.
/// </summary>
public sealed class ContainsTerm(string text, ValueTerm container, ValueTerm item) : ConditionTerm(text)
{
    /// <inheritdoc />
    public override bool Holds(RuleContext ctx)
    {
        var c = container.Read(ctx);
        var i = item.Read(ctx);
        if (i.Kind != TraitKind.String)
            return false;
        if (c.Kind == TraitKind.String)
            return c.Bytes.IndexOf(i.Bytes) >= 0;
        if (c.Kind == TraitKind.StringList)
        {
            var r = new StringListReader(c.Bytes);
            while (r.Next(out var element))
                if (element.SequenceEqual(i.Bytes))
                    return true;
        }
        return false;
    }

    /// <inheritdoc />
    public override long NextChange(RuleContext ctx) => Math.Min(container.NextChange(ctx), item.NextChange(ctx));

    /// <inheritdoc />
    public override void Explain(RuleContext ctx, int depth, List<RuleExplanation> lines)
        => lines.Add(new RuleExplanation(depth, Text, Holds(ctx), container.Describe(ctx)));
}
