using System.Globalization;
using System.Text.Json;
using YoutuServer.Chat.Messages;
using YoutuServer.Hosting;

namespace YoutuServer.Generation;

/// <summary>
/// Prompt assembly: renders the conversation through the chat formatter and tokenizes it, splicing in the exact
/// tokens of the assistant turns the intent recalled (<see cref="GenerationIntent.RecalledTurns"/>).
/// </summary>
internal sealed class PromptAssembler(EngineHost host, ChatFormatting formatting)
{
    /// <summary>
    /// Renders the conversation and tokenizes it (null tokens when more than <paramref name="limit"/>, with a lower
    /// bound in <paramref name="atLeast"/>). Assistant turns that the template keeps whole and that
    /// <see cref="GenerationIntent.RecalledTurns"/> holds go in as the exact text and token ids the model produced.
    /// </summary>
    public (string Prompt, int[]? Tokens) Render(GenerationIntent intent, bool? thinking, List<JsonElement> tools, int limit, out int atLeast)
    {
        var source = intent.Messages;
        var messages = new ChatMessage[source.Count];
        var firstTool = FirstToolResult(source);
        var scope = intent.RecalledTurns is null ? null : GenerationPlanner.CacheScopeOf(intent);
        string? marker = null;
        List<(string Marker, string Text, IReadOnlyList<int> Tokens)>? recalled = null;
        for (var i = 0; i < messages.Length; i++)
        {
            var m = source[i];
            // The template keeps an assistant turn whole from just before the first tool result on (a tool loop);
            // there the turn can be the model's own tokens.
            if (m.Role == ChatRoles.Assistant && i < source.Count - 1 && i >= firstTool - 1
                && intent.RecalledTurns?.TryGetValue(OutputMemoryKeys.Of(m, scope), out var turn) == true)
            {
                var (turnText, ids) = (turn.Text, turn.Tokens);
                marker ??= "\u0001youtu-turn-" + Guid.NewGuid().ToString("N") + "-";
                var placeholder = marker + i.ToString(CultureInfo.InvariantCulture) + "\u0001";
                (recalled ??= []).Add((placeholder, turnText, ids));
                messages[i] = new ChatMessage(ChatRoles.Assistant, placeholder);
                continue;
            }

            // Reasoning the client sends back is rendered as the model produced it; the template keeps or drops it.
            messages[i] = m.WithReasoningInContent();
        }

        var renderOptions = new ChatRenderOptions
        {
            AddGenerationPrompt = true,
            EnableThinking = thinking,
            ForcedThinking = intent.Thinking.Forced ? true : null,
            Tools = tools.Count > 0 ? tools : null,
        };
        var prompt = formatting.Render(messages, renderOptions);
        if (recalled is null)
        {
            return (prompt, Tokenize(prompt, intent.KnownPrefix, limit, out atLeast));
        }

        // The pieces between remembered turns are tokenized on their own: each boundary is a special token
        // (<|Assistant|> before, <|end_of_text|> after), where the tokenizer splits anyway.
        var tokens = new List<int>();
        var text = new System.Text.StringBuilder(prompt.Length);
        var at = 0;
        atLeast = 0;
        foreach (var (placeholder, recalledText, turnTokens) in recalled)
        {
            var pos = prompt.IndexOf(placeholder, at, StringComparison.Ordinal);
            if (pos < 0)
            {
                continue;
            }

            if (!AppendPiece(prompt[at..pos], tokens, limit, out atLeast))
            {
                return (prompt, null);
            }

            tokens.AddRange(turnTokens);
            text.Append(prompt, at, pos - at).Append(recalledText);
            at = pos + placeholder.Length;
        }

        if (!AppendPiece(prompt[at..], tokens, limit, out atLeast))
        {
            return (prompt, null);
        }

        text.Append(prompt, at, prompt.Length - at);
        if (tokens.Count > limit)
        {
            atLeast = tokens.Count;
            return (text.ToString(), null);
        }

        return (text.ToString(), [.. tokens]);
    }

    private bool AppendPiece(string piece, List<int> tokens, int limit, out int atLeast)
    {
        atLeast = 0;
        if (piece.Length == 0)
        {
            return true;
        }

        var ids = host.Engine.TryTokenize(piece, addSpecial: false, parseSpecial: true, Math.Max(0, limit - tokens.Count), out var pieceAtLeast);
        if (ids is null)
        {
            atLeast = tokens.Count + pieceAtLeast;
            return false;
        }

        tokens.AddRange(ids);
        return true;
    }

    /// <summary>The template's first_tool_index: the first tool result (a tool message, or a user message that is one).</summary>
    private static int FirstToolResult(IReadOnlyList<ChatMessage> messages)
    {
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            if (m.Role == ChatRoles.Tool
                || (m.Role == ChatRoles.User && m.Content is { } c && c.StartsWith("<tool_response>", StringComparison.Ordinal) && c.EndsWith("</tool_response>", StringComparison.Ordinal)))
            {
                return i;
            }
        }

        return messages.Count;
    }

    /// <summary>The prompt's tokens, reusing a known prefix's tokens when the prompt starts with its text; null when over the context.</summary>
    private int[]? Tokenize(string prompt, PromptPrefix? prefix, int limit, out int atLeast)
    {
        var engine = host.Engine;
        if (prefix is { Text.Length: > 0 } p && p.Tokens.Count <= limit && prompt.StartsWith(p.Text, StringComparison.Ordinal))
        {
            var rest = engine.TryTokenize(prompt[p.Text.Length..], addSpecial: false, parseSpecial: true, limit - p.Tokens.Count, out var restAtLeast);
            atLeast = p.Tokens.Count + restAtLeast;
            return rest is null ? null : [.. p.Tokens, .. rest];
        }

        return engine.TryTokenize(prompt, addSpecial: false, parseSpecial: true, limit, out atLeast);
    }
}
