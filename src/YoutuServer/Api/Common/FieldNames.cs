using YoutuServer.Generation;

namespace YoutuServer.Api.Common;

/// <summary>The snake_case names most wire formats give the intent's fields; each format's namer overrides what it names otherwise.</summary>
internal static class FieldNames
{
    public static string SnakeCase(IntentField field, int? index) => field switch
    {
        IntentField.Model => "model",
        IntentField.Messages => "messages",
        IntentField.Prompt => "prompt",
        IntentField.Tools => "tools",
        IntentField.ToolName => $"tools[{index}].name",
        IntentField.ToolParameters => $"tools[{index}].parameters",
        IntentField.ToolChoice => "tool_choice",
        IntentField.Output => "response_format",
        IntentField.Temperature => "temperature",
        IntentField.TopP => "top_p",
        IntentField.TopK => "top_k",
        IntentField.MinP => "min_p",
        IntentField.PresencePenalty => "presence_penalty",
        IntentField.FrequencyPenalty => "frequency_penalty",
        IntentField.RepetitionPenalty => "repetition_penalty",
        IntentField.LogitBias => "logit_bias",
        IntentField.Stop => "stop",
        IntentField.N => "n",
        IntentField.MaxTokens => "max_tokens",
        IntentField.MinTokens => "min_tokens",
        IntentField.Logprobs => "logprobs",
        IntentField.TopLogprobs => "top_logprobs",
        IntentField.ReasoningBudget => "reasoning_budget",
        IntentField.CacheSalt => "cache_salt",
        _ => "",
    };

    /// <summary>A generation that failed inside the engine (a 500: never the client's mistake).</summary>
}
