using Cdp.Server.Profiles;

namespace Cdp.Server.Rules;

/// <summary>
/// A compiled condition. <see cref="Holds"/> is the hot path: no allocation, no virtual call beyond
/// one per node. <see cref="Explain"/> is the slow path that says which parts held.
/// </summary>
public abstract class ConditionTerm(string text)
{
    /// <summary>The condition's source text in canonical form.</summary>
    public string Text { get; } = text;

    /// <summary>Whether the condition holds for the profile in <paramref name="ctx"/>.</summary>
    public abstract bool Holds(RuleContext ctx);

    /// <summary>When the condition's truth may next change with time alone; <see cref="long.MaxValue"/> for never.</summary>
    public abstract long NextChange(RuleContext ctx);

    /// <summary>Appends this condition and its parts with their truth and the values they read.</summary>
    public virtual void Explain(RuleContext ctx, int depth, List<RuleExplanation> lines)
        => lines.Add(new RuleExplanation(depth, Text, Holds(ctx), null));

    /// <summary>Sub-conditions, for explanations.</summary>
    protected void ExplainChildren(RuleContext ctx, int depth, List<RuleExplanation> lines, params ConditionTerm[] children)
    {
        lines.Add(new RuleExplanation(depth, Text, Holds(ctx), null));
        foreach (var c in children)
            c.Explain(ctx, depth + 1, lines);
    }
}

/// <summary>One line of an explanation: a condition, whether it held, and the values it read.</summary>
public sealed record RuleExplanation(int Depth, string Condition, bool Holds, string? Values);

/// <summary><c>a and b</c>.</summary>
public sealed class AndTerm(string text, ConditionTerm left, ConditionTerm right) : ConditionTerm(text)
{
    /// <inheritdoc />
    public override bool Holds(RuleContext ctx) => left.Holds(ctx) && right.Holds(ctx);
    /// <inheritdoc />
    public override long NextChange(RuleContext ctx) => Math.Min(left.NextChange(ctx), right.NextChange(ctx));
    /// <inheritdoc />
    public override void Explain(RuleContext ctx, int depth, List<RuleExplanation> lines) => ExplainChildren(ctx, depth, lines, left, right);
}

/// <summary><c>a or b</c>.</summary>
public sealed class OrTerm(string text, ConditionTerm left, ConditionTerm right) : ConditionTerm(text)
{
    /// <inheritdoc />
    public override bool Holds(RuleContext ctx) => left.Holds(ctx) || right.Holds(ctx);
    /// <inheritdoc />
    public override long NextChange(RuleContext ctx) => Math.Min(left.NextChange(ctx), right.NextChange(ctx));
    /// <inheritdoc />
    public override void Explain(RuleContext ctx, int depth, List<RuleExplanation> lines) => ExplainChildren(ctx, depth, lines, left, right);
}

/// <summary><c>not a</c>.</summary>
public sealed class NotTerm(string text, ConditionTerm operand) : ConditionTerm(text)
{
    /// <inheritdoc />
    public override bool Holds(RuleContext ctx) => !operand.Holds(ctx);
    /// <inheritdoc />
    public override long NextChange(RuleContext ctx) => operand.NextChange(ctx);
    /// <inheritdoc />
    public override void Explain(RuleContext ctx, int depth, List<RuleExplanation> lines) => ExplainChildren(ctx, depth, lines, operand);
}

/// <summary>A field used as a condition: holds when it is <c>true</c>.</summary>
public sealed class TruthTerm(string text, ValueTerm value) : ConditionTerm(text)
{
    /// <inheritdoc />
    public override bool Holds(RuleContext ctx) => value.Read(ctx).Kind == TraitKind.True;
    /// <inheritdoc />
    public override long NextChange(RuleContext ctx) => value.NextChange(ctx);
    /// <inheritdoc />
    public override void Explain(RuleContext ctx, int depth, List<RuleExplanation> lines)
        => lines.Add(new RuleExplanation(depth, Text, Holds(ctx), value.Describe(ctx)));
}

/// <summary><c>exists(field)</c>: the field has a value other than null.</summary>
public sealed class ExistsTerm(string text, ValueTerm value) : ConditionTerm(text)
{
    /// <inheritdoc />
    public override bool Holds(RuleContext ctx) => value.Read(ctx).Kind != TraitKind.Null;
    /// <inheritdoc />
    public override long NextChange(RuleContext ctx) => value.NextChange(ctx);
    /// <inheritdoc />
    public override void Explain(RuleContext ctx, int depth, List<RuleExplanation> lines)
        => lines.Add(new RuleExplanation(depth, Text, Holds(ctx), value.Describe(ctx)));
}

/// <summary><c>in_segment("x")</c>: membership of another segment, evaluated before this one.</summary>
public sealed class InSegmentTerm(string text, int segmentIndex) : ConditionTerm(text)
{
    /// <summary>The segment read.</summary>
    public int SegmentIndex { get; } = segmentIndex;
    /// <inheritdoc />
    public override bool Holds(RuleContext ctx) => ctx.IsMember(SegmentIndex);
    /// <inheritdoc />
    public override long NextChange(RuleContext ctx) => long.MaxValue;
}
