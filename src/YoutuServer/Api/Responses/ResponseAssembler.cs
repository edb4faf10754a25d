using System.Text;
using YoutuServer.Api.Common;
using YoutuServer.Chat.Parsing;
using YoutuServer.Generation;
using YoutuServer.Hosting;

namespace YoutuServer.Api.Responses;

/// <summary>
/// Turns one choice's parsed output events into Responses output items (reasoning, message, function_call) and,
/// when streaming, into the matching events with increasing <c>sequence_number</c>. The same code builds the
/// non-streaming response, so both agree item for item.
/// </summary>
internal sealed class ResponseAssembler(ResponseObject response, MappedResponsesRequest mapped, bool summaries, Func<string, string>? seal, Func<ResponseStreamEvent, ValueTask>? emit, ReasoningEventNames names)
{
    private readonly StringBuilder text = new();
    private ResponseItem? current;
    private ContentPart? part;
    private int outputIndex = -1;
    private int sequence;
    private ClientToolKind? clientKind;

    public ValueTask EmitAsync(ResponseStreamEvent e)
    {
        e.SequenceNumber = sequence++;
        return emit is null ? ValueTask.CompletedTask : emit(e);
    }

    public async ValueTask OnOutputAsync(OutputEvent e)
    {
        switch (e.Kind)
        {
            case OutputEventKind.ReasoningDelta:
                if (current?.Type != "reasoning")
                {
                    await CloseAsync("completed");
                    await OpenAsync(new ResponseItem { Id = ResponseIds.Reasoning(), Type = "reasoning", Summary = [], Status = "in_progress" });
                }

                text.Append(e.Text);
                if (emit is not null)
                {
                    await EmitAsync(new ResponseStreamEvent { Type = names.Delta, ItemId = current!.Id, OutputIndex = outputIndex, ContentIndex = 0, Delta = e.Text });
                }

                break;
            case OutputEventKind.ContentDelta:
                if (current?.Type != "message")
                {
                    await CloseAsync("completed");
                    await OpenAsync(new ResponseItem { Id = ResponseIds.Message(), Type = "message", Status = "in_progress", Role = "assistant", Content = [] });
                    part = ContentPart.OutputText("");
                    await EmitAsync(new ResponseStreamEvent { Type = "response.content_part.added", ItemId = current!.Id, OutputIndex = outputIndex, ContentIndex = 0, Part = part });
                    current.Content!.Add(part);
                }

                text.Append(e.Text);
                if (emit is not null)
                {
                    await EmitAsync(new ResponseStreamEvent { Type = "response.output_text.delta", ItemId = current!.Id, OutputIndex = outputIndex, ContentIndex = 0, Delta = e.Text, Logprobs = [] });
                }

                break;
            case OutputEventKind.ToolCallStart:
            {
                await CloseAsync("completed");
                var flat = e.ToolCallName ?? "";
                var (ns, name) = mapped.Namespaced.TryGetValue(flat, out var n) ? (n.Namespace, n.Name) : ((string?)null, flat);
                if (mapped.ClientTools.TryGetValue(flat, out var kind))
                {
                    // A client-run tool: its own item type, filled in when the call is complete.
                    clientKind = kind;
                    await OpenAsync(ClientTools.ToItem(kind, e.ToolCallId, flat, "{}", "in_progress"));
                    break;
                }

                await OpenAsync(new ResponseItem { Id = ResponseIds.FunctionCall(), Type = "function_call", Status = "in_progress", CallId = e.ToolCallId, Namespace = ns, Name = name, Arguments = "" });
                break;
            }

            case OutputEventKind.ToolCallArgumentsDelta:
                text.Append(e.Text);
                if (emit is not null && current?.Type == "function_call")
                {
                    await EmitAsync(new ResponseStreamEvent { Type = "response.function_call_arguments.delta", ItemId = current.Id, OutputIndex = outputIndex, Delta = e.Text });
                }

                break;
        }
    }

    /// <summary>The choice ended: closes the open item (incomplete when cut by the token limit).</summary>
    public ValueTask FinishAsync(ChoiceOutput choice) => CloseAsync(choice.Finish == ChoiceFinish.Length ? "incomplete" : "completed");

    private async ValueTask OpenAsync(ResponseItem item)
    {
        current = item;
        text.Clear();
        response.Output.Add(item);
        outputIndex = response.Output.Count - 1;
        await EmitAsync(new ResponseStreamEvent { Type = "response.output_item.added", OutputIndex = outputIndex, Item = item });
    }

    private async ValueTask CloseAsync(string status)
    {
        if (current is not { } item)
        {
            return;
        }

        var full = text.ToString();
        switch (item.Type)
        {
            case "reasoning":
                item.Content = [new ContentPart { Type = "reasoning_text", Text = full }];
                await EmitAsync(new ResponseStreamEvent { Type = names.Done, ItemId = item.Id, OutputIndex = outputIndex, ContentIndex = 0, Text = full });
                if (summaries)
                {
                    // A 2B model's thinking is short: the summary is the reasoning itself.
                    var summary = new ContentPart { Type = "summary_text", Text = "" };
                    await EmitAsync(new ResponseStreamEvent { Type = "response.reasoning_summary_part.added", ItemId = item.Id, OutputIndex = outputIndex, SummaryIndex = 0, Part = summary });
                    await EmitAsync(new ResponseStreamEvent { Type = "response.reasoning_summary_text.delta", ItemId = item.Id, OutputIndex = outputIndex, SummaryIndex = 0, Delta = full });
                    await EmitAsync(new ResponseStreamEvent { Type = "response.reasoning_summary_text.done", ItemId = item.Id, OutputIndex = outputIndex, SummaryIndex = 0, Text = full });
                    summary.Text = full;
                    await EmitAsync(new ResponseStreamEvent { Type = "response.reasoning_summary_part.done", ItemId = item.Id, OutputIndex = outputIndex, SummaryIndex = 0, Part = summary });
                    item.Summary = [summary];
                }

                item.EncryptedContent = seal?.Invoke(full);
                item.Status = status;
                break;
            case "message":
                part!.Text = full;
                await EmitAsync(new ResponseStreamEvent { Type = "response.output_text.done", ItemId = item.Id, OutputIndex = outputIndex, ContentIndex = 0, Text = full, Logprobs = [] });
                await EmitAsync(new ResponseStreamEvent { Type = "response.content_part.done", ItemId = item.Id, OutputIndex = outputIndex, ContentIndex = 0, Part = part });
                item.Status = status;
                break;
            case "custom_tool_call" or "apply_patch_call" or "shell_call" or "local_shell_call":
            {
                var built = ClientTools.ToItem(clientKind!.Value, item.CallId, item.Name ?? "", full, status);
                (item.Input, item.Action, item.Operation, item.Status) = (built.Input, built.Action, built.Operation, status);
                if (item.Type == "custom_tool_call")
                {
                    await EmitAsync(new ResponseStreamEvent { Type = "response.custom_tool_call_input.delta", ItemId = item.Id, OutputIndex = outputIndex, Delta = item.Input });
                    await EmitAsync(new ResponseStreamEvent { Type = "response.custom_tool_call_input.done", ItemId = item.Id, OutputIndex = outputIndex, Input = item.Input });
                }

                clientKind = null;
                break;
            }

            case "function_call":
                item.Arguments = full;
                await EmitAsync(new ResponseStreamEvent { Type = "response.function_call_arguments.done", ItemId = item.Id, OutputIndex = outputIndex, Arguments = full, Name = item.Name });
                item.Status = status;
                break;
        }

        await EmitAsync(new ResponseStreamEvent { Type = "response.output_item.done", OutputIndex = outputIndex, Item = item });
        current = null;
        part = null;
        text.Clear();
    }
}

/// <summary>
/// The two names the reasoning text's stream events go by (<c>--responses-reasoning-events</c>): OpenAI's API (the
/// default, what the OpenAI SDKs, Codex and the Agents SDK read) or the Open Responses specification's.
/// </summary>
internal sealed record ReasoningEventNames(string Delta, string Done)
{
    public static readonly ReasoningEventNames OpenAI = new("response.reasoning_text.delta", "response.reasoning_text.done");
    public static readonly ReasoningEventNames OpenResponses = new("response.reasoning.delta", "response.reasoning.done");

    public static ReasoningEventNames From(string? setting) => setting?.Trim().ToLowerInvariant() switch
    {
        null or "" or "openai" => OpenAI,
        "open-responses" or "openresponses" => OpenResponses,
        _ => throw new ConfigurationException($"--responses-reasoning-events must be 'openai' or 'open-responses', not '{setting}'."),
    };
}
