using Cdp.Server.Rules;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// The rule language front end: every bad rule is refused with the line and column of the mistake
/// and a reason that says what was found and what was expected; good rules parse to the expected
/// tree, and the canonical text of any tree parses back to the same text.
/// </summary>
public sealed class RuleParserTests
{
    static readonly RuleSchema Schema = new(
        new Dictionary<string, RuleType>
        {
            ["country"] = RuleType.String,
            ["age"] = RuleType.Number,
            ["vip"] = RuleType.Bool,
            ["signup_at"] = RuleType.Timestamp,
            ["tags"] = RuleType.List,
            ["plan"] = RuleType.Any,
            ["first name"] = RuleType.String,
        },
        new Dictionary<string, RuleType> { ["orders_30d"] = RuleType.Number, ["last_visit"] = RuleType.Timestamp },
        ["marketing"],
        ["vip_users"]);

    public static TheoryData<string, int, int, string> BadRules => new()
    {
        { "", 1, 1, "the rule is empty" },
        { "   \n  ", 2, 3, "the rule is empty" },
        { "traits.country = ", 1, 18, "expected a value after '=' but found the end of the rule" },
        { "traits.country = \"DE\" and", 1, 26, "expected a condition but found the end of the rule" },
        { "traits.age >= and traits.vip", 1, 15, "expected a value after '>=' but found 'and'" },
        { "traits.vip and and traits.vip", 1, 16, "expected a condition but found 'and'" },
        { "not", 1, 4, "expected a condition after 'not' but found the end of the rule" },
        { "(traits.vip and traits.age > 3", 1, 31, "expected ')' to close '(' at line 1, column 1" },
        { "traits.vip)", 1, 11, "unexpected ')' after the end of the rule" },
        { "traits.vip traits.vip", 1, 12, "unexpected 'traits' after the end of the rule" },
        { "traits.country = \"DE", 1, 18, "unterminated string" },
        { "traits.country = \"D\\qE\"", 1, 20, "unknown escape '\\q'" },
        { "traits.country = \"\\u12\"", 1, 19, "'\\u' needs four hex digits" },
        { "traits.country = 'DE'", 1, 18, "strings are written in double quotes" },
        { "traits.vip &&\n traits.age > 3", 1, 12, "'&&' is written 'and'" },
        { "trait.country = \"DE\"", 1, 1, "unknown field scope 'trait'" },
        { "country = \"DE\"", 1, 1, "a field is written traits.country" },
        { "traits.contry = \"DE\"", 1, 1, "unknown trait 'contry' (did you mean 'country'?)" },
        { "traits.zzz = 1", 1, 1, "unknown trait 'zzz'; declare it" },
        { "computed.orders_3d > 1", 1, 1, "unknown computed trait 'orders_3d' (did you mean 'orders_30d'?)" },
        { "consent.marketin", 1, 1, "unknown purpose 'marketin' (did you mean 'marketing'?)" },
        { "in_segment(\"vip_user\")", 1, 1, "unknown segment 'vip_user' (did you mean 'vip_users'?)" },
        { "in_segment(\"gold\")", 1, 1, "unknown segment 'gold'" },
        { "size(traits.tags) > 1", 1, 1, "unknown function 'size'" },
        { "exists(traits.vip, traits.age)", 1, 18, "exists takes one argument" },
        { "days_since(\"2026-01-01\") > 3", 1, 12, "days_since takes one field" },
        { "in_segment(traits.vip)", 1, 12, "in_segment takes one segment name in double quotes" },
        { "traits.country = 3", 1, 18, "cannot compare traits.country, text with a number (3)" },
        { "traits.age = \"ten\"", 1, 14, "cannot compare traits.age, a number with text (\"ten\")" },
        { "traits.vip > true", 1, 1, "'>' orders numbers, instants or text, not traits.vip, a boolean" },
        { "traits.tags < \"a\"", 1, 1, "'<' orders numbers, instants or text, not traits.tags, a list" },
        { "traits.signup_at > \"yesterday\"", 1, 20, "\"yesterday\" is not an instant" },
        { "traits.signup_at > 5", 1, 20, "cannot compare traits.signup_at, an instant with a number (5)" },
        { "3 = 3", 1, 1, "compares two constants" },
        { "traits.country in [\"DE\", 3]", 1, 26, "every item of the list must be text like traits.country, but this one is a number" },
        { "traits.country in []", 1, 20, "the list is empty" },
        { "traits.country in [traits.plan]", 1, 20, "list items must be constants" },
        { "traits.country in \"DE\"", 1, 19, "expected '[' to start the list after 'in'" },
        { "traits.age contains \"a\"", 1, 1, "contains searches text or a list, not traits.age, a number" },
        { "traits.country contains 3", 1, 25, "contains looks for text, not a number (3)" },
        { "days_since(traits.country) < 3", 1, 12, "days_since needs an instant, but traits.country is text" },
        { "traits.age", 1, 1, "expected a condition but found traits.age, a number" },
        { "traits.vip and traits.country", 1, 16, "expected a condition but found traits.country, text" },
        { "traits.age = null", 1, 14, "null is not a value; use exists(traits.x)" },
        { "event.name = \"Order\"", 1, 1, "event is only available in trigger rules" },
        { "traits.vip = true and\n  traits.age >= 18 and\n  traits.country = ", 3, 20, "expected a value after '='" },
        { "traits.vip or\n\t(traits.age > 1", 2, 17, "expected ')' to close '(' at line 2, column 2" },
        { "traits.age > 1e", 1, 15, "a number's exponent needs digits" },
        { "traits.age > 12abc", 1, 14, "is neither a number nor a name" },
        { "traits.age # 3", 1, 12, "unexpected character '#'" },
        { "traits.vip = !true", 1, 14, "'!' is written 'not'" },
        { "traits.", 1, 8, "expected a name after 'traits.' but found the end of the rule" },
        { "traits[country] = \"DE\"", 1, 8, "expected a name in double quotes after 'traits['" },
        { "(traits.age > 1) = true", 1, 2, "expected a value but found a condition" },
        { "traits.age > -x", 1, 15, "expected a number after '-'" },
        { new string('(', 70) + "traits.vip" + new string(')', 70), 1, 65, "nests deeper than 64 levels" },
        { "traits.vip or " + string.Join(" or ", Enumerable.Repeat("traits.vip", 900)), 1, 1, "characters long; at most 8192 are allowed" },
    };

    [Theory]
    [MemberData(nameof(BadRules))]
    public void A_bad_rule_is_refused_at_its_position_with_a_reason(string rule, int line, int column, string reason)
    {
        var e = Assert.Throws<RuleException>(() => RuleLanguage.Parse(rule, Schema));
        Assert.Contains(reason, e.Reason);
        Assert.Equal((line, column), (e.Line, e.Column));
        Assert.StartsWith($"line {line}, column {column}: ", e.Message);
    }

    [Fact]
    public void And_binds_tighter_than_or_and_not_tighter_than_and()
    {
        var or = Assert.IsType<OrNode>(RuleLanguage.Parse("traits.vip or traits.age > 1 and traits.country = \"DE\"", Schema));
        Assert.IsType<FieldNode>(or.Left);
        Assert.IsType<AndNode>(or.Right);
        var and = Assert.IsType<AndNode>(RuleLanguage.Parse("not traits.vip and traits.age > 1", Schema));
        Assert.IsType<NotNode>(and.Left);
        var not = Assert.IsType<NotNode>(RuleLanguage.Parse("not traits.age > 1", Schema));
        Assert.IsType<CompareNode>(not.Operand);
        var grouped = Assert.IsType<AndNode>(RuleLanguage.Parse("(traits.vip or traits.age > 1) and traits.country = \"DE\"", Schema));
        Assert.IsType<OrNode>(grouped.Left);
    }

    [Fact]
    public void Text_compared_with_an_instant_becomes_an_instant_and_types_are_recorded()
    {
        var c = Assert.IsType<CompareNode>(RuleLanguage.Parse("traits.signup_at >= \"2026-01-31\"", Schema));
        var literal = Assert.IsType<LiteralNode>(c.Right);
        Assert.Equal(RuleType.Timestamp, literal.Type);
        Assert.Equal(DateTimeOffset.Parse("2026-01-31T00:00:00Z").ToUnixTimeMilliseconds(), literal.Timestamp);
        Assert.Equal(RuleType.Bool, c.Type);
        var days = Assert.IsType<CompareNode>(RuleLanguage.Parse("days_since(computed.last_visit) <= 7", Schema));
        Assert.Equal(RuleType.Number, Assert.IsType<DaysSinceNode>(days.Left).Type);
    }

    [Theory]
    [InlineData("traits.country = \"DE\"")]
    [InlineData("traits.country == \"DE\"")]
    [InlineData("traits.age >= 18 and traits.age < 65.5")]
    [InlineData("traits.age > -3")]
    [InlineData("traits.age > 1e3")]
    [InlineData("not exists(traits.vip)")]
    [InlineData("consent.marketing")]
    [InlineData("traits.vip = false")]
    [InlineData("traits.country in [\"DE\", \"AT\", \"CH\"]")]
    [InlineData("traits.tags contains \"gold\"")]
    [InlineData("traits.country contains \"E\"")]
    [InlineData("traits.plan = 3 or traits.plan = \"pro\"")]
    [InlineData("traits[\"first name\"] = \"Ann\\\"e\"")]
    [InlineData("in_segment(\"vip_users\") and not in_segment(\"vip_users\")")]
    [InlineData("days_since(traits.signup_at) in [0, 1, 2]")]
    [InlineData("traits.signup_at < \"2026-05-01T10:00:00+02:00\"")]
    [InlineData("computed.orders_30d >= 3 and days_since(computed.last_visit) <= 7")]
    [InlineData("traits.vip or (traits.age > 1 or traits.age < 0)")]
    [InlineData("not (traits.vip and traits.age > 3)")]
    [InlineData("traits.vip\n  and\ttraits.age > 3")]
    public void A_good_rule_parses_and_its_canonical_text_parses_back_to_itself(string rule)
    {
        var first = RuleLanguage.Format(RuleLanguage.Parse(rule, Schema));
        var second = RuleLanguage.Format(RuleLanguage.Parse(first, Schema));
        Assert.Equal(first, second);
    }

    /// <summary>Random trees of every node kind: printing and parsing again gives the same tree (same text).</summary>
    [Fact]
    public void Canonical_text_round_trips_for_random_rules()
    {
        var random = new Random(7);
        string Condition(int depth)
        {
            int pick = random.Next(depth > 3 ? 6 : 9);
            return pick switch
            {
                0 => "traits.age " + new[] { "=", "!=", "<", "<=", ">", ">=" }[random.Next(6)] + " " + random.Next(-5, 100),
                1 => "traits.country in [\"DE\", \"a\\\"b\"]",
                2 => "exists(traits.vip)",
                3 => "traits.tags contains \"x\"",
                4 => "days_since(computed.last_visit) < " + random.Next(10),
                5 => "consent.marketing",
                6 => "not " + Condition(depth + 1),
                7 => "(" + Condition(depth + 1) + (random.Next(2) == 0 ? " and " : " or ") + Condition(depth + 1) + ")",
                _ => Condition(depth + 1) + (random.Next(2) == 0 ? " and " : " or ") + Condition(depth + 1),
            };
        }
        for (int i = 0; i < 500; i++)
        {
            var rule = Condition(0);
            var first = RuleLanguage.Format(RuleLanguage.Parse(rule, Schema));
            Assert.Equal(first, RuleLanguage.Format(RuleLanguage.Parse(first, Schema)));
        }
    }

    /// <summary>
    /// Good rules damaged at random (characters cut, replaced, inserted) either still parse, and then
    /// round-trip, or fail with a <see cref="RuleException"/> whose position lies inside the text;
    /// no other exception escapes.
    /// </summary>
    [Fact]
    public void Damaged_rules_fail_only_with_rule_errors_that_point_inside_the_text()
    {
        string[] rules =
        [
            "traits.country = \"DE\" and computed.orders_30d >= 3 and consent.marketing and days_since(computed.last_visit) <= 7",
            "not (traits.tags contains \"vip\" or traits[\"first name\"] in [\"A\\u00e9\", \"B\\n\"]) and in_segment(\"vip_users\")",
            "traits.signup_at > \"2026-05-01T08:30:00Z\"\nor exists(traits.vip) and traits.age != -1.5e3",
        ];
        const string Alphabet = "()[],.=!<>\"'\\-+eE0123456789 \n\tabcdnotrisuvx_";
        var random = new Random(11);
        int parsed = 0, refused = 0;
        for (int i = 0; i < 20_000; i++)
        {
            var text = new System.Text.StringBuilder(rules[random.Next(rules.Length)]);
            for (int edits = random.Next(1, 4); edits > 0 && text.Length > 0; edits--)
            {
                int at = random.Next(text.Length);
                switch (random.Next(3))
                {
                    case 0: text.Remove(at, random.Next(1, Math.Min(8, text.Length - at) + 1)); break;
                    case 1: text[at] = Alphabet[random.Next(Alphabet.Length)]; break;
                    default: text.Insert(at, Alphabet[random.Next(Alphabet.Length)]); break;
                }
            }
            var rule = text.ToString();
            try
            {
                var first = RuleLanguage.Format(RuleLanguage.Parse(rule, Schema));
                Assert.Equal(first, RuleLanguage.Format(RuleLanguage.Parse(first, Schema)));
                parsed++;
            }
            catch (RuleException e)
            {
                var lines = rule.Split('\n');
                Assert.InRange(e.Line, 1, lines.Length);
                Assert.InRange(e.Column, 1, lines[e.Line - 1].Length + 1);
                refused++;
            }
        }
        Assert.True(parsed > 100 && refused > 100, $"parsed {parsed}, refused {refused}");
    }
}
