using System.Text;
using System.Text.Json;
using YoutuServer.Chat.Messages;

namespace YoutuServer.Chat.Templates;

/// <summary>
/// Youtu-LLM's chat template (<c>youtu_chat_template.jinja</c>, embedded) reimplemented in C#. Output is byte-identical
/// to Hugging Face's Jinja rendering, checked by the golden corpus in the tests. Three deliberate normalizations,
/// also applied by <c>scripts/render-golden-templates.py</c>: an empty <c>tools</c> list is absent, a null assistant
/// content is "", and the developer role is system. Anything else that makes Jinja raise throws
/// <see cref="ChatTemplateException"/>.
/// </summary>
public sealed class YoutuChatFormatter : IChatFormatter
{
    public const string FormatterName = "youtu";

    /// <summary>Appended after <c>&lt;|Assistant|&gt;</c> when <c>enable_thinking</c> is false: an empty, closed think block.</summary>
    public const string ThinkingOffPrefill = "<think>\n\n</think>\n\n";

    /// <summary>Appended after <c>&lt;|Assistant|&gt;</c> when <c>forced_thinking</c> is true: the model continues inside a think block.</summary>
    public const string ForcedThinkingPrefill = "<think>\n";

    public const string UserTag = "<|User|>";
    public const string AssistantTag = "<|Assistant|>";
    public const string EndOfText = "<|end_of_text|>";

    internal const string ToolDescriptionHeader =
        "<|begin_of_tool_description|>Tool calling capabilities.\n" +
        "You may call one or more functions to assist with the user query. You have the following functions available:";

    internal const string ToolDescriptionFooter =
        "For tool call returns, you MUST use the following format:\n" +
        "<tool_call>{\"name\": \"function-name\", \"arguments\": {\"param1\": \"value1\", \"param2\": \"value2\"}}</tool_call>\n" +
        "<|end_of_tool_description|>";

    private const string ThinkOpen = "<think>";
    private const string ThinkClose = "</think>";
    private const string ToolResponseOpen = "<tool_response>";
    private const string ToolResponseClose = "</tool_response>";
    private const string TemplateResourceName = "YoutuServer.Chat.Templates.youtu_chat_template.jinja";

    private static readonly Lazy<string> LazyTemplateText = new(LoadTemplateText);
    private static readonly Lazy<string> LazyNormalizedTemplate = new(() => NormalizeTemplate(LazyTemplateText.Value));

    public static YoutuChatFormatter Instance { get; } = new();

    public string Name => FormatterName;

    /// <summary>The reference Jinja template, byte-exact (no trailing newline).</summary>
    public static string TemplateText => LazyTemplateText.Value;

    /// <summary>
    /// True when <paramref name="chatTemplate"/> (e.g. a GGUF's <c>tokenizer.chat_template</c>) is this template,
    /// ignoring line-ending style and leading/trailing whitespace such as a final newline.
    /// </summary>
    public static bool Matches(string? chatTemplate) =>
        chatTemplate is not null && string.Equals(NormalizeTemplate(chatTemplate), LazyNormalizedTemplate.Value, StringComparison.Ordinal);

    /// <summary>
    /// What the generation prompt adds after <c>&lt;|Assistant|&gt;</c> for these options: "", <see cref="ThinkingOffPrefill"/>
    /// or <see cref="ForcedThinkingPrefill"/>. The output parser uses it to know whether generation starts inside a think block.
    /// </summary>
    public static string GenerationPrefill(ChatRenderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.EnableThinking == false)
        {
            return ThinkingOffPrefill;
        }

        return options.ForcedThinking == true ? ForcedThinkingPrefill : string.Empty;
    }

    public string Render(IReadOnlyList<ChatMessage> messages, ChatRenderOptions options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(options);

        int n = messages.Count;
        var sb = new StringBuilder(EstimateCapacity(messages, options));
        if (options.IncludeBos)
        {
            sb.Append(options.BosToken);
        }

        // Pass 1: every system message is hoisted to the top, joined by a blank line; find the first tool-result message.
        int systemStart = sb.Length;
        bool firstSystem = true;
        int firstToolIndex = n;
        for (int i = 0; i < n; i++)
        {
            var message = messages[i] ?? throw new ChatTemplateException($"messages[{i}] is null.");
            string? role = NormalizeRole(message.Role);
            if (role == ChatRoles.System)
            {
                string content = RequireContent(message, i, role);
                if (!firstSystem)
                {
                    sb.Append("\n\n");
                }

                sb.Append(content);
                firstSystem = false;
            }

            if (firstToolIndex == n
                && (role == ChatRoles.Tool || (role == ChatRoles.User && IsToolResponseText(RequireContent(message, i, role)))))
            {
                firstToolIndex = i;
            }
        }

        // `tools is not none` in the template; an empty list would render a tool block with no functions.
        var tools = options.Tools;
        if (tools is { Count: > 0 })
        {
            if (sb.Length > systemStart)
            {
                sb.Append("\n\n");
            }

            AppendToolDescription(sb, tools);
        }

        // Pass 2: the turns.
        bool isLastUser = false;
        bool isTool = false;
        bool isOutputFirst = true;
        for (int i = 0; i < n; i++)
        {
            var message = messages[i];
            string? role = NormalizeRole(message.Role);
            switch (role)
            {
                case ChatRoles.User:
                    isTool = false;
                    isLastUser = true;
                    sb.Append(UserTag).Append(RequireContent(message, i, role));
                    break;

                case ChatRoles.Assistant:
                    isLastUser = false;
                    isTool = false;
                    isOutputFirst = true;
                    AppendAssistant(sb, message, i, isLast: i == n - 1, firstToolIndex);
                    break;

                case ChatRoles.Tool:
                    isLastUser = false;
                    isTool = true;
                    // Consecutive results share one user turn; the flag resets only at an assistant message.
                    sb.Append(isOutputFirst ? UserTag + ToolResponseOpen : "\n" + ToolResponseOpen)
                        .Append(RequireContent(message, i, role))
                        .Append(ToolResponseClose);
                    isOutputFirst = false;
                    break;

                default:
                    // System was emitted in pass 1; unknown roles render nothing but still count for indices and "last".
                    break;
            }
        }

        if (options.AddGenerationPrompt && (isLastUser || isTool))
        {
            sb.Append(AssistantTag).Append(GenerationPrefill(options));
        }

        return sb.ToString();
    }

    private static void AppendAssistant(StringBuilder sb, ChatMessage message, int index, bool isLast, int firstToolIndex)
    {
        string content = message.Content ?? string.Empty;
        ReadOnlySpan<char> text = content;
        bool prefixEmptyThink = false;
        if (!isLast)
        {
            // Past reasoning is dropped from plain history, but kept right before and inside a tool loop.
            int close = content.LastIndexOf(ThinkClose, StringComparison.Ordinal);
            if (close >= 0 && index < firstToolIndex - 1)
            {
                text = content.AsSpan(close + ThinkClose.Length).TrimStart('\n');
            }
        }
        else
        {
            prefixEmptyThink = !content.Contains(ThinkOpen, StringComparison.Ordinal)
                && !content.Contains(ThinkClose, StringComparison.Ordinal);
        }

        sb.Append(AssistantTag);
        if (prefixEmptyThink)
        {
            sb.Append(ThinkingOffPrefill);
        }

        sb.Append(text);

        var calls = message.ToolCalls;
        if (calls is not null)
        {
            for (int j = 0; j < calls.Count; j++)
            {
                AppendToolCall(sb, calls[j], index, j);
            }
        }

        sb.Append(EndOfText);
    }

    private static void AppendToolCall(StringBuilder sb, ChatToolCall? call, int index, int callIndex)
    {
        if (call is null)
        {
            throw new ChatTemplateException($"messages[{index}].tool_calls[{callIndex}] is null.");
        }

        if (call.Name is null)
        {
            throw new ChatTemplateException($"messages[{index}].tool_calls[{callIndex}] has no function name.");
        }

        var args = call.Arguments;
        if (args.ValueKind == JsonValueKind.Undefined)
        {
            throw new ChatTemplateException($"messages[{index}].tool_calls[{callIndex}] has no function arguments.");
        }

        sb.Append(callIndex == 0 ? "<tool_call>" : "\n<tool_call>")
            .Append("{\"name\": \"").Append(call.Name).Append("\", \"arguments\": ");
        if (args.ValueKind == JsonValueKind.String)
        {
            // OpenAI sends arguments as a JSON-encoded string; the template inserts it untouched.
            sb.Append(args.GetString());
        }
        else
        {
            HfToJson.Append(sb, args);
        }

        sb.Append("}</tool_call>");
    }

    private static void AppendToolDescription(StringBuilder sb, IReadOnlyList<JsonElement> tools)
    {
        sb.Append(ToolDescriptionHeader);
        for (int i = 0; i < tools.Count; i++)
        {
            if (tools[i].ValueKind == JsonValueKind.Undefined)
            {
                throw new ChatTemplateException($"tools[{i}] is missing.");
            }

            sb.Append("\n```json\n");
            HfToJson.Append(sb, tools[i]);
            sb.Append("\n```");
        }

        sb.Append('\n').Append(ToolDescriptionFooter);
    }

    private static string? NormalizeRole(string? role) => role == ChatRoles.Developer ? ChatRoles.System : role;

    // Jinja concatenates these contents with '+', which raises on None.
    private static string RequireContent(ChatMessage message, int index, string role) =>
        message.Content ?? throw new ChatTemplateException($"messages[{index}] ({role}) has no content; the Youtu chat template requires text.");

    private static bool IsToolResponseText(string content) =>
        content.StartsWith(ToolResponseOpen, StringComparison.Ordinal) && content.EndsWith(ToolResponseClose, StringComparison.Ordinal);

    private static int EstimateCapacity(IReadOnlyList<ChatMessage> messages, ChatRenderOptions options)
    {
        long size = 64 + options.BosToken.Length;
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            size += 32 + (m?.Content?.Length ?? 0);
            if (m?.ToolCalls is { } calls)
            {
                size += calls.Count * 96;
            }
        }

        if (options.Tools is { Count: > 0 } tools)
        {
            size += ToolDescriptionHeader.Length + ToolDescriptionFooter.Length + (tools.Count * 512);
        }

        return (int)Math.Min(size, 1 << 24);
    }

    private static string NormalizeTemplate(string template) => template.ReplaceLineEndings("\n").Trim();

    private static string LoadTemplateText()
    {
        using var stream = typeof(YoutuChatFormatter).Assembly.GetManifestResourceStream(TemplateResourceName)
            ?? throw new InvalidOperationException($"Embedded resource '{TemplateResourceName}' is missing.");
        using var reader = new StreamReader(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), detectEncodingFromByteOrderMarks: false);
        return reader.ReadToEnd();
    }
}
