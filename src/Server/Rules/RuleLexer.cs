using System.Globalization;
using System.Text;

namespace Cdp.Server.Rules;

/// <summary>Kinds of rule tokens.</summary>
public enum RuleTokenKind
{
    /// <summary>End of the rule.</summary>
    End,
    /// <summary>A word: keyword, scope, function or name.</summary>
    Word,
    /// <summary>A number.</summary>
    Number,
    /// <summary>A double-quoted string (<see cref="RuleToken.Text"/> holds it unescaped).</summary>
    String,
    /// <summary>Punctuation or an operator.</summary>
    Symbol,
}

/// <summary>A token with its position.</summary>
public readonly record struct RuleToken(RuleTokenKind Kind, string Text, double Number, int Line, int Column)
{
    /// <summary>The token as an error message names it.</summary>
    public string Describe() => Kind switch
    {
        RuleTokenKind.End => "the end of the rule",
        RuleTokenKind.String => "the string \"" + (Text.Length > 30 ? Text[..30] + "..." : Text) + "\"",
        _ => "'" + Text + "'",
    };

    /// <summary>Whether this is the symbol or word <paramref name="text"/>.</summary>
    public bool Is(string text) => Kind is RuleTokenKind.Symbol or RuleTokenKind.Word && Text == text;
}

/// <summary>Splits rule text into tokens, tracking 1-based lines and columns.</summary>
public sealed class RuleLexer
{
    readonly string text;
    int position;
    int line = 1;
    int lineStart;

    /// <summary>Creates a lexer over <paramref name="text"/>.</summary>
    public RuleLexer(string text) => this.text = text;

    /// <summary>Reads the next token.</summary>
    public RuleToken Next()
    {
        SkipSpace();
        int column = position - lineStart + 1;
        if (position >= text.Length)
            return new RuleToken(RuleTokenKind.End, "", 0, line, column);
        char c = text[position];
        if (char.IsAsciiLetter(c) || c == '_')
        {
            int start = position;
            while (position < text.Length && (char.IsAsciiLetterOrDigit(text[position]) || text[position] == '_'))
                position++;
            return new RuleToken(RuleTokenKind.Word, text[start..position], 0, line, column);
        }
        if (char.IsAsciiDigit(c) || (c == '.' && position + 1 < text.Length && char.IsAsciiDigit(text[position + 1])))
            return ReadNumber(column);
        if (c == '"')
            return ReadString(column);
        if (c == '\'')
            throw new RuleException(line, column, "strings are written in double quotes, not single quotes");
        position++;
        string two = position < text.Length ? text.Substring(position - 1, 2) : "";
        if (two is "==" or "!=" or "<=" or ">=" or "&&" or "||")
        {
            position++;
            if (two is "&&" or "||")
                throw new RuleException(line, column, $"'{two}' is written '{(two == "&&" ? "and" : "or")}' in rules");
            return new RuleToken(RuleTokenKind.Symbol, two, 0, line, column);
        }
        if ("()[],.=<>-".Contains(c))
            return new RuleToken(RuleTokenKind.Symbol, c.ToString(), 0, line, column);
        if (c == '!')
            throw new RuleException(line, column, "'!' is written 'not' in rules ('!=' compares)");
        throw new RuleException(line, column, $"unexpected character '{c}'");
    }

    void SkipSpace()
    {
        while (position < text.Length && char.IsWhiteSpace(text[position]))
        {
            if (text[position] == '\n')
            {
                line++;
                lineStart = position + 1;
            }
            position++;
        }
    }

    RuleToken ReadNumber(int column)
    {
        int start = position;
        while (position < text.Length && char.IsAsciiDigit(text[position]))
            position++;
        if (position < text.Length && text[position] == '.')
        {
            position++;
            while (position < text.Length && char.IsAsciiDigit(text[position]))
                position++;
        }
        if (position < text.Length && text[position] is 'e' or 'E')
        {
            int mark = position;
            position++;
            if (position < text.Length && text[position] is '+' or '-')
                position++;
            if (position >= text.Length || !char.IsAsciiDigit(text[position]))
                throw new RuleException(line, mark - lineStart + 1, $"a number's exponent needs digits: '{text[start..position]}'");
            while (position < text.Length && char.IsAsciiDigit(text[position]))
                position++;
        }
        if (position < text.Length && (char.IsAsciiLetter(text[position]) || text[position] == '_'))
            throw new RuleException(line, column, $"'{text[start..(position + 1)]}...' is neither a number nor a name; put a space after the number");
        var slice = text[start..position];
        if (!double.TryParse(slice, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || double.IsInfinity(value))
            throw new RuleException(line, column, $"'{slice}' is not a number that can be stored");
        return new RuleToken(RuleTokenKind.Number, slice, value, line, column);
    }

    RuleToken ReadString(int column)
    {
        var sb = new StringBuilder();
        position++;
        while (true)
        {
            if (position >= text.Length || text[position] == '\n')
                throw new RuleException(line, column, "unterminated string: no closing '\"' on its line");
            char c = text[position++];
            if (c == '"')
                break;
            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }
            int escapeColumn = position - lineStart;
            if (position >= text.Length)
                throw new RuleException(line, column, "unterminated string: no closing '\"' on its line");
            char e = text[position++];
            switch (e)
            {
                case '"': sb.Append('"'); break;
                case '\\': sb.Append('\\'); break;
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'u':
                    if (position + 4 > text.Length || !ushort.TryParse(text.AsSpan(position, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
                        throw new RuleException(line, escapeColumn, "'\\u' needs four hex digits, e.g. \\u00e9");
                    sb.Append((char)code);
                    position += 4;
                    break;
                default:
                    throw new RuleException(line, escapeColumn, $"unknown escape '\\{e}' in a string; use \\\", \\\\, \\n, \\t or \\uXXXX");
            }
        }
        return new RuleToken(RuleTokenKind.String, sb.ToString(), 0, line, column);
    }
}
