using YoutuServer.Chat.Messages;
using YoutuServer.Chat.Templates;
using YoutuServer.Engine;
using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;

namespace YoutuServer.Cli;

/// <summary>`youtu-server generate --model FILE --prompt TEXT ...`: one completion, for smoke tests.</summary>
internal static class GenerateCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var cli = new CliArgs(args, new HashSet<string> { "raw", "ignore-eos", "no-think" });
        var modelPath = cli.Require("model");
        var prompt = cli.Require("prompt");
        var maxTokens = cli.GetInt("max-tokens", 64);
        var seed = cli.GetInt("seed", 42);
        var temperature = cli.GetFloat("temperature", 0.8f);
        var topK = cli.GetInt("top-k", 40);
        var topP = cli.GetFloat("top-p", 0.95f);
        var minP = cli.GetFloat("min-p", 0.05f);
        var repeat = cli.GetFloat("repeat-penalty", 1.0f);
        var threads = cli.GetInt("threads", 0);
        var ctx = cli.GetInt("ctx-size", 4096);
        var raw = cli.GetBool("raw");
        var ignoreEos = cli.GetBool("ignore-eos");
        var noThink = cli.GetBool("no-think");
        var stops = cli.GetAll("stop");
        cli.RejectUnknown();

        InferenceEngine engine;
        try
        {
            engine = await InferenceEngine.StartAsync(new EngineOptions { ModelPath = modelPath, Parallel = 1, CtxSize = ctx, Threads = threads });
        }
        catch (Exception e) when (e is ModelLoadException)
        {
            await Console.Error.WriteLineAsync($"youtu-server generate: {e.Message}");
            return 1;
        }

        await using (engine)
        {
            var text = raw ? prompt : YoutuChatFormatter.Instance.Render(
                [new ChatMessage("user", prompt)], new ChatRenderOptions { EnableThinking = noThink ? false : null });
            var tokens = engine.Tokenize(text, addSpecial: raw, parseSpecial: true);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var result = await engine.GenerateAsync(new GenerationRequest
            {
                Prompt = tokens,
                MaxTokens = maxTokens,
                IgnoreEos = ignoreEos,
                Stop = stops,
                Sampling = new SamplingParams { Temperature = temperature, TopK = topK, TopP = topP, MinP = minP, RepetitionPenalty = repeat, Seed = (uint)seed },
            });
            var elapsed = sw.Elapsed.TotalSeconds;
            var c = result.Choices[0];
            Console.WriteLine(c.Text);
            var decodeS = Math.Max(1e-9, elapsed - result.Usage.PromptEvalMs / 1000.0);
            await Console.Error.WriteLineAsync(
                $"generate: {tokens.Length} prompt tokens in {result.Usage.PromptEvalMs:F0} ms ({tokens.Length / Math.Max(1e-9, result.Usage.PromptEvalMs / 1000.0):F1} tok/s); " +
                $"{c.CompletionTokens} tokens in {decodeS:F2} s ({c.CompletionTokens / decodeS:F2} tok/s); finish: {c.FinishReason.ToString().ToLowerInvariant()}");
            return c.FinishReason == FinishReason.Error ? 1 : 0;
        }
    }
}
