using YoutuServer.Cli;
using YoutuServer.Hosting;

// youtu-server: one executable, several commands. `serve` is the default.
var command = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "serve";
var rest = args.Length > 0 && !args[0].StartsWith('-') ? args[1..] : args;
try
{
    return command switch
    {
        "serve" => await ServerApp.RunAsync(rest),
        "synth" => await SynthCommand.RunAsync(rest),
        "generate" => await GenerateCommand.RunAsync(rest),
        "bench" => await BenchCommand.RunAsync(rest),
        "pull" => await PullCommand.RunAsync(rest),
        "launch" => await LaunchCommand.RunAsync(rest),
        "help" or "--help" or "-h" => Usage(0),
        _ => Usage(2, $"unknown command '{command}'"),
    };
}
catch (Exception e) when (e is CliException or ConfigurationException)
{
    await Console.Error.WriteLineAsync($"youtu-server {command}: {e.Message}");
    return 2;
}

static int Usage(int code, string? error = null)
{
    if (error is not null)
    {
        Console.Error.WriteLine($"youtu-server: {error}");
    }

    Console.WriteLine("""
        usage: youtu-server [command] [options]

          serve     (default) OpenAI-compatible HTTP server (plus Anthropic's /v1/messages)
                    --model FILE|ID --host H --port P --parallel N --ctx-size N --queue-size N --threads N
                    --thinking on|off --reasoning-format parsed|raw --reasoning-budget N --chat-format auto|youtu|NAME
                    --seed N (for requests without one; default random) --reasoning-key KEY (seals reasoning for stateless clients;
                    64 hex digits, base64:32 bytes, or a passphrase of 16+ characters; give every replica the same one)
                    --state-store memory|redis://HOST:PORT[,options] (session state: in process, or shared by replicas)
                    --state-ttl S (shared state lives S seconds after its last use; default 604800) --replica-id NAME
                    --api-key KEY (repeatable) --api-keys-file FILE --metrics-require-key --cors-origin URL (repeatable)
                    --rate-limit N/min --max-body-bytes N --drain-timeout S --log-json --log-prompts --otlp-endpoint URL
                    --model-alias NAME (the served model's name) --model-alias NAME=ID (repeatable: a client's model
                    name routed to the served model; NAME may end in *, e.g. 'claude-*=youtu-llm-2b') --stream-ping S
                    --responses-reasoning-events openai|open-responses (reasoning event names on /v1/responses streams)
                    --ws-max-connections N --ws-idle-timeout S --ws-max-message-bytes N --ws-max-lifetime MIN
                    (Responses WebSocket mode, GET /v1/responses: 64, 600 s, the body limit, 60 min)
                    --parallel N --ctx-size N --batch-size N --gpu-layers N --flash-attn -1|0|1 --extra-bufts on|off --mmap on|off
                    --step-tokens N (tokens per step: decodes first, then prompts shortest-first; default --batch-size)
                    --prompt-chunk N (cap on prompt tokens per step while others generate; default 0 = none)
                    --sampling-threads N (0 auto, 1 off) --sampler managed|llama
                    --native-dir DIR --native auto|cpu|cuda --cpu-variant NAME --models-file FILE --models-dir DIR
                    --lora ID=PATH[:SCALE] (repeatable; requests select it with "model": ID) --adapter-quantum STEPS
          synth     write a Youtu-shaped test model:  --preset tiny|2b --out FILE [--quant f16|q8_0|q4_k_m] [--seed N]
                    or a random LoRA adapter for one:  --lora-for BASE.gguf --out ADAPTER.gguf [--rank R] [--alpha A] [--seed N]
          generate  one completion from the command line:  --model FILE --prompt TEXT [--max-tokens N] [--seed N]
                    [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--raw]
          bench     engine: youtu-server bench engine --model FILE [--parallel N] [--tokens N] [--prompt N] [--ctx-size N]
                            [--threads N] [--repeat R] [--sampling greedy|thinking] [--extra-bufts on|off] ... (--help)
                    sampling: youtu-server bench sampling [--sequences N] [--threads N]
                    serve:  youtu-server bench serve (--url URL | --model FILE) [--concurrency N] [--requests M]
          launch    run a coding agent against a running server:  youtu-server launch claude|codex [--url URL] [--model ID] [--api-key KEY] [-- ARGS]
          pull      download a model of models.json:  youtu-server pull [ID] [--models-dir DIR] [--models-file FILE] [--url URL] [--force]
        """);
    return code;
}

/// <summary>Entry type, public so WebApplicationFactory can host the server in tests.</summary>
public partial class Program;
