using System.Text;

namespace YoutuServer.Chat.Grammar;

/// <summary>
/// The optional reasoning block Youtu writes before its answer in thinking mode:
/// <c>&lt;think&gt;</c>, free text that does not contain <c>&lt;/think&gt;</c>, <c>&lt;/think&gt;</c>,
/// then at most four whitespace characters (the model writes <c>"\n\n"</c>).
/// </summary>
internal static class ThinkGrammar
{
    public const string Open = "<think>";
    public const string Close = "</think>";

    /// <summary>Defines the rules and returns the name of the block rule (<c>think</c>), whitespace included.</summary>
    public static string Define(GbnfBuilder builder)
    {
        builder.Define("think", $"{GbnfBuilder.Literal(Open)} think-body {GbnfBuilder.Literal(Close)} [ \\t\\r\\n]{{0,4}}", "");
        DefineNotContaining(builder, "think-body", Close);
        return "think";
    }

    /// <summary>
    /// Defines <paramref name="name"/> as all strings that do not contain <paramref name="literal"/>.
    /// Built from the matcher's states (how much of the literal has just been seen); this simple form is
    /// exact because the literal's first character occurs nowhere else in it, so a mismatch falls back to
    /// state 0, or to state 1 when the mismatching character is that first character.
    /// </summary>
    private static void DefineNotContaining(GbnfBuilder builder, string name, string literal)
    {
        var first = literal[0];
        if (literal.IndexOf(first, 1) >= 0 || literal.Length < 2)
        {
            throw new ArgumentException("The literal's first character must not repeat.", nameof(literal));
        }

        var rest = literal[1..];
        var c0 = GbnfBuilder.Literal(first.ToString());
        var notC0 = "[^" + GbnfBuilder.ClassChar(first) + "]";

        // back: from state k>=1, a run of matched characters then the first character again (back to state 1).
        // exit: from state 1, a run of matched characters then a character that is neither the next one nor the first.
        // part: from state 1, a proper prefix of the rest, to end the text inside a partial match.
        var back = new StringBuilder();
        var exit = new StringBuilder();
        var part = new StringBuilder();
        var last = rest.Length - 1;
        for (var k = 0; k < last; k++)
        {
            var ch = GbnfBuilder.Literal(rest[k].ToString());
            back.Append(c0).Append(" | ").Append(ch).Append(" ( ");
            exit.Append('[').Append('^').Append(GbnfBuilder.ClassChar(rest[k])).Append(GbnfBuilder.ClassChar(first)).Append("] | ")
                .Append(ch).Append(" ( ");
            part.Append("( ").Append(ch).Append(' ');
        }

        back.Append(c0);
        exit.Append("[^").Append(GbnfBuilder.ClassChar(rest[last])).Append(GbnfBuilder.ClassChar(first)).Append(']');
        for (var k = 0; k < last; k++)
        {
            back.Append(" )");
            exit.Append(" )");
            part.Append(")? ");
        }

        builder.Define(name, $"{name}-seg* ( {c0} {name}-back* {name}-part )?", "");
        builder.Define(name + "-seg", $"{notC0} | {c0} {name}-back* {name}-exit", "");
        builder.Define(name + "-back", back.ToString(), "");
        builder.Define(name + "-exit", exit.ToString(), "");
        builder.Define(name + "-part", part.Length == 0 ? "\"\"" : part.ToString().TrimEnd(), "");
    }
}
