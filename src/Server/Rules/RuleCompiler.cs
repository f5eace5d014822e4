using Cdp.Server.Computed;
using Cdp.Server.Schema;

namespace Cdp.Server.Rules;

/// <summary>
/// A rule compiled for evaluation, with what it reads: the dependency keys of its fields (see
/// <see cref="RuleCompiler"/>), the segments it reads through <c>in_segment</c>, and whether time
/// alone can change its truth.
/// </summary>
public sealed record CompiledRule(ConditionTerm Root, int[] DependencyKeys, int[] SegmentsRead, bool TimeDependent);

/// <summary>
/// Turns a checked rule tree into <see cref="ConditionTerm"/>s. Each field becomes a slot read, each
/// constant a pre-encoded literal (strings as UTF-8), so evaluation compares bytes and numbers only.
/// Dependency keys name what a write must change for the rule to need evaluating: a trait by its
/// name id, a computed trait by <see cref="ComputedKeyBase"/> + its catalog index; a derived value
/// depends on the trait or computed trait it is derived from.
/// </summary>
public sealed class RuleCompiler(SchemaRegistry schema, ComputedTraitCatalog catalog, RuleFieldSlots slots, Func<string, int> segmentIndexOf)
{
    /// <summary>Dependency keys of computed traits start here (trait name ids are below).</summary>
    public const int ComputedKeyBase = 1 << 16;

    readonly HashSet<int> keys = [];
    readonly HashSet<int> segments = [];
    bool timeDependent;

    /// <summary>Compiles <paramref name="root"/>, a tree that passed <see cref="RuleLanguage.Parse"/>.</summary>
    public CompiledRule Compile(RuleNode root)
    {
        keys.Clear();
        segments.Clear();
        timeDependent = false;
        var term = Condition(root);
        return new CompiledRule(term, [.. keys.Order()], [.. segments.Order()], timeDependent);
    }

    ConditionTerm Condition(RuleNode node)
    {
        string text = RuleLanguage.Format(node);
        switch (node)
        {
            case AndNode a:
                return new AndTerm(text, Condition(a.Left), Condition(a.Right));
            case OrNode o:
                return new OrTerm(text, Condition(o.Left), Condition(o.Right));
            case NotNode n:
                return new NotTerm(text, Condition(n.Operand));
            case CompareNode c:
                return new CompareTerm(text, c.Op, Value(c.Left), Value(c.Right));
            case InListNode l:
                return new InListTerm(text, Value(l.Value), [.. l.Items.Select(Literal)]);
            case ContainsNode c:
                return new ContainsTerm(text, Value(c.Container), Value(c.Item));
            case ExistsNode e:
                return new ExistsTerm(text, Field(e.Field));
            case InSegmentNode s:
                int index = segmentIndexOf(s.Segment);
                if (index < 0)
                    throw new RuleException(s.Line, s.Column, $"unknown segment '{s.Segment}'");
                segments.Add(index);
                return new InSegmentTerm(text, index);
            case FieldNode f:
                return new TruthTerm(text, Field(f));
            case LiteralNode l:
                return new TruthTerm(text, Literal(l));
            default:
                throw new RuleException(node.Line, node.Column, $"expected a condition, found {node.GetType().Name}");
        }
    }

    ValueTerm Value(RuleNode node) => node switch
    {
        FieldNode f => Field(f),
        LiteralNode l => Literal(l),
        DaysSinceNode d => DaysSince(d),
        _ => throw new RuleException(node.Line, node.Column, "expected a value"),
    };

    ValueTerm DaysSince(DaysSinceNode d)
    {
        timeDependent = true;
        return new DaysSinceTerm(Field(d.Field));
    }

    ValueTerm Field(FieldNode f)
    {
        switch (f.Scope)
        {
            case FieldScope.Trait:
            {
                ushort id = schema.Intern(f.Name, "segment rule traits." + f.Name);
                keys.Add(id);
                return new TraitTerm(slots.SlotOf(id));
            }
            case FieldScope.Computed:
            {
                int index = catalog.IndexOf(f.Name);
                if (index < 0)
                    throw new RuleException(f.Line, f.Column, $"unknown computed trait '{f.Name}'");
                bool timed;
                if (index < catalog.Traits.Count)
                {
                    keys.Add(ComputedKeyBase + index);
                    timed = catalog.Traits[index].IsWindowed;
                }
                else
                {
                    var derived = catalog.Derived[index - catalog.Traits.Count];
                    keys.Add(derived.FromComputed
                        ? ComputedKeyBase + catalog.IndexOf(derived.SourceName)
                        : schema.Intern(derived.SourceName, "derived trait source " + derived.SourceName));
                    timed = true;
                }
                timeDependent |= timed;
                return new ComputedTerm(index, timed);
            }
            default:
            {
                // Consent is stored like a boolean trait under a reserved name, so writes that state it
                // reach the rules reading it through the same dependency index.
                ushort id = schema.Intern(Cdp.Server.Schema.SchemaRegistry.ConsentPrefix + f.Name, "segment rule consent." + f.Name);
                keys.Add(id);
                return new TraitTerm(slots.SlotOf(id));
            }
        }
    }

    static LiteralTerm Literal(LiteralNode l) => l.Type switch
    {
        RuleType.Number => LiteralTerm.Of(l.Number),
        RuleType.Bool => LiteralTerm.Of(l.Bool),
        RuleType.Timestamp => LiteralTerm.OfTimestamp(l.Timestamp),
        _ => LiteralTerm.Of(l.Text ?? ""),
    };
}
