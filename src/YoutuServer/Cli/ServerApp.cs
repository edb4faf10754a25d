using Microsoft.AspNetCore.Diagnostics;
using YoutuServer.Api;
using YoutuServer.Generation;
using YoutuServer.Hosting;
using YoutuServer.Http;
using YoutuServer.State;

namespace YoutuServer.Cli;

/// <summary>Builds and runs the HTTP server (`youtu-server serve`): the composition root of every room.</summary>
internal static partial class ServerApp
{
    /// <summary>Command-line options of `serve`, mapped onto the "Youtu" configuration section.</summary>
    private static readonly Dictionary<string, string> Switches = new(StringComparer.Ordinal)
    {
        ["model"] = "Model",
        ["model-alias"] = "ModelAlias",
        ["alias"] = "ModelAlias",
        ["models-file"] = "ModelsFile",
        ["models-dir"] = "ModelsDir",
        ["host"] = "Host",
        ["port"] = "Port",
        ["parallel"] = "Parallel",
        ["ctx-size"] = "CtxSize",
        ["queue-size"] = "QueueSize",
        ["batch-size"] = "BatchSize",
        ["step-tokens"] = "StepTokens",
        ["prompt-chunk"] = "PromptChunk",
        ["sampling-threads"] = "SamplingThreads",
        ["sampler"] = "Sampler",
        ["threads"] = "Threads",
        ["gpu-layers"] = "GpuLayers",
        ["flash-attn"] = "FlashAttention",
        ["extra-bufts"] = "UseExtraBufts",
        ["mmap"] = "UseMmap",
        ["native-dir"] = "NativeDir",
        ["native"] = "NativeFlavour",
        ["cpu-variant"] = "CpuVariant",
        ["thinking"] = "Thinking",
        ["reasoning-format"] = "ReasoningFormat",
        ["responses-reasoning-events"] = "ResponsesReasoningEvents",
        ["reasoning-budget"] = "ReasoningBudget",
        ["chat-format"] = "ChatFormat",
        ["default-max-tokens"] = "DefaultMaxTokens",
        ["reasoning-key"] = "ReasoningKey",
        ["seed"] = "Seed",
        ["api-keys-file"] = "ApiKeysFile",
        ["metrics-require-key"] = "MetricsRequireKey",
        ["max-body-bytes"] = "MaxRequestBodyBytes",
        ["rate-limit"] = "RateLimitPerMinute",
        ["drain-timeout"] = "DrainTimeoutSeconds",
        ["stream-ping"] = "StreamPingSeconds",
        ["log-json"] = "LogJson",
        ["log-prompts"] = "LogPrompts",
        ["otlp-endpoint"] = "OtlpEndpoint",
        ["prefix-cache"] = "PrefixCache",
        ["cache-ram"] = "CacheRamMiB",
        ["cache-dir"] = "CacheDir",
        ["cache-disk"] = "CacheDiskMiB",
        ["adapter-quantum"] = "AdapterQuantumSteps",
        ["responses-store-items"] = "ResponsesStoreItems",
        ["responses-store-bytes"] = "ResponsesStoreBytes",
        ["output-memory-items"] = "OutputMemoryItems",
        ["output-memory-bytes"] = "OutputMemoryBytes",
        ["tool-use-memory-items"] = "ToolUseMemoryItems",
        ["tool-use-memory-bytes"] = "ToolUseMemoryBytes",
        ["state-tenant-share"] = "StateTenantShare",
        ["state-store"] = "StateStore",
        ["state-ttl"] = "StateTtlSeconds",
        ["replica-id"] = "ReplicaId",
    };

    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication app;
        try
        {
            app = Build(args);
        }
        catch (CliException)
        {
            throw;
        }

        try
        {
            await app.RunAsync();
            return 0;
        }
        catch (Exception e) when (e is Engine.ModelLoadException or FileNotFoundException or InvalidDataException or InvalidOperationException)
        {
            await Console.Error.WriteLineAsync($"youtu-server: {e.Message}");
            return 1;
        }
    }

    /// <summary>Translates `--key value` options into configuration keys; unknown options are refused.</summary>
    internal static Dictionary<string, string?> ParseServeArgs(string[] args)
    {
        var cli = new CliArgs(args, new HashSet<string> { "log-json", "log-prompts", "metrics-require-key" });
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var key in cli.Keys.ToList())
        {
            if (key is "api-key")
            {
                var keys = cli.GetAll(key);
                for (var i = 0; i < keys.Count; i++)
                {
                    values[$"{ServerOptions.Section}:ApiKeys:{i}"] = keys[i];
                }

                continue;
            }

            if (key is "lora")
            {
                var loras = cli.GetAll(key);
                for (var i = 0; i < loras.Count; i++)
                {
                    values[$"{ServerOptions.Section}:Lora:{i}"] = loras[i];
                }

                continue;
            }

            if (key is "model-alias" or "alias")
            {
                // NAME (no '='): the name the API reports for the served model, as before. NAME=ID (repeatable):
                // a client-side model name routed to the served model (Anthropic clients send claude-* names).
                var map = 0;
                foreach (var v in cli.GetAll(key))
                {
                    if (v.Contains('=', StringComparison.Ordinal))
                    {
                        values[$"{ServerOptions.Section}:ModelAliasMap:{map++}"] = v;
                    }
                    else
                    {
                        values[$"{ServerOptions.Section}:ModelAlias"] = v;
                    }
                }

                continue;
            }

            if (key is "cors-origin")
            {
                var origins = cli.GetAll(key);
                for (var i = 0; i < origins.Count; i++)
                {
                    values[$"{ServerOptions.Section}:CorsOrigins:{i}"] = origins[i];
                }

                continue;
            }

            if (key is "urls" or "environment" or "contentRoot" or "applicationName" || key.Contains(':', StringComparison.Ordinal) || key == ServerOptions.Section)
            {
                // Host-level settings (also what WebApplicationFactory passes in tests).
                values[key] = cli.Get(key);
                continue;
            }

            if (Switches.TryGetValue(key, out var name))
            {
                var v = cli.Get(key);
                values[$"{ServerOptions.Section}:{name}"] = v is "on" ? "true" : v is "off" ? "false" : v;
            }
        }

        if (cli.Positionals.Count > 0)
        {
            throw new CliException($"unexpected argument '{cli.Positionals[0]}'");
        }

        cli.RejectUnknown();
        return values;
    }

    public static WebApplication Build(string[] args)
    {
        var serveArgs = ParseServeArgs(args);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.AddEnvironmentVariables("YOUTU_");
        builder.Configuration.AddInMemoryCollection(serveArgs);

        var options = new ServerOptions();
        builder.Configuration.GetSection(ServerOptions.Section).Bind(options);
        builder.Services.Configure<ServerOptions>(builder.Configuration.GetSection(ServerOptions.Section));
        builder.Services.AddSingleton(sp => sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<ServerOptions>>().Value);

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            // Long streams must not be cut because a client reads slowly between tokens.
            k.Limits.MinResponseDataRate = null;
        });
        if (builder.Configuration["urls"] is null && builder.Configuration["ASPNETCORE_URLS"] is null)
        {
            builder.WebHost.UseUrls($"http://{(options.Host == "0.0.0.0" ? "*" : options.Host)}:{options.Port}");
        }

        builder.Services.AddSingleton<EngineHost>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EngineHost>());
        builder.Services.AddSingleton<ChatFormatting>();
        builder.Services.AddSingleton<ConversationPins>();
        builder.Services.AddSingleton<GenerationPlanner>();
        builder.Services.AddStateServices();
        var seal = new ReasoningSeal(options.ReasoningKey);
        builder.Services.AddSingleton(seal);
        var stateStore = State.Redis.StateStoreSettings.Parse(options.StateStore);
        builder.Services.AddSingleton(sp => new State.StateStoreStatus(stateStore, stateStore.IsRedis
            ? State.Redis.RedisStateConnection.ConnectAsync(stateStore, sp.GetRequiredService<ILoggerFactory>().CreateLogger("YoutuServer.State")).GetAwaiter().GetResult()
            : null));
        builder.Services.AddSingleton<Api.Serving.GenerationLifecycle>();
        builder.Services.AddSingleton<Api.Responses.ResponsesWebSocketConnections>();
        builder.Services.AddSingleton(ApiEndpoints.ErrorShapes());
        builder.Services.AddOpenApi(o => o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info.Title = "YoutuServer";
            doc.Info.Description = "OpenAI-compatible API for Youtu-LLM-2B (chat completions with reasoning and tool calls, completions, models, tokenizer utilities), plus Anthropic's Messages API (/v1/messages, /v1/messages/count_tokens).";
            return Task.CompletedTask;
        }));
        Operations.Observability.Configure(builder, options);

        var app = builder.Build();
        var replica = string.IsNullOrWhiteSpace(options.ReplicaId) ? $"{Environment.MachineName}-{Environment.ProcessId}" : options.ReplicaId.Trim();
        app.Use((http, next) =>
        {
            // Which replica answered: behind a load balancer, proofs and operators can see where a turn landed. Set
            // as the response starts, so error answers (the exception handler clears headers) carry it too.
            http.Response.OnStarting(static state =>
            {
                var (response, id) = ((HttpResponse, string))state;
                response.Headers[ReplicaHeader] = id;
                return Task.CompletedTask;
            }, (http.Response, replica));
            return next(http);
        });
        var state = app.Services.GetRequiredService<State.StateStoreStatus>();
        Log.StateStore(app.Logger, state.Settings.Display, replica);
        if (seal.IsEphemeral && (state.Settings.IsRedis || Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST") is not null))
        {
            // Replicas share stored state but not this key: encrypted_content and thinking signatures made here open
            // nowhere else (nor after a restart).
            Log.EphemeralSealKey(app.Logger, state.Settings.IsRedis ? "a shared state store is configured" : "this runs in Kubernetes, where replicas may be added");
        }

        DemoModel.UseWarningHeader(app);
        app.UseExceptionHandler(errorApp => errorApp.Run(WriteUnhandledAsync));
        Operations.Observability.Use(app, options);
        Web.WebUi.Map(app);
        app.MapOpenApi("/openapi/{documentName}.json");
        app.UseSwaggerUI(o =>
        {
            o.RoutePrefix = "swagger";
            o.SwaggerEndpoint("/openapi/v1.json", "YoutuServer v1");
        });
        ApiEndpoints.Map(app);
        // One line per wire format: each maps its routes on the shared generation lifecycle.
        Api.ChatCompletions.ChatCompletionsEndpoint.Map(app);
        Api.Completions.CompletionsEndpoint.Map(app);
        Api.Responses.ResponsesEndpoint.Map(app);
        Api.Responses.ResponsesWebSocket.Map(app);
        Api.Responses.ResponsesCompaction.Map(app);
        Api.Messages.MessagesEndpoint.Map(app);
        Api.Simple.SimpleChatEndpoint.Map(app);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            // Fail fast on an unusable chat template rather than on the first request.
            var formatting = app.Services.GetRequiredService<ChatFormatting>();
            try
            {
                _ = formatting.Formatter;
            }
            catch (InvalidOperationException e)
            {
                app.Logger.LogCritical(e, "chat template unusable");
                app.Lifetime.StopApplication();
            }
        });
        return app;
    }

    /// <summary>The response header naming the replica that answered.</summary>
    public const string ReplicaHeader = "x-youtu-replica";

    private static async Task WriteUnhandledAsync(HttpContext http)
    {
        var error = http.Features.Get<IExceptionHandlerFeature>()?.Error;
        var api = error switch
        {
            ApiException a => a,
            BadHttpRequestException b when b.StatusCode == 413 => new ApiException(413, "The request body is too large.", "invalid_request_error", null, "request_too_large"),
            BadHttpRequestException b => new ApiException(b.StatusCode, b.Message),
            State.StateUnavailableException u => Api.Serving.IntentErrors.Unavailable(u),
            OperationCanceledException => null,
            _ => new ApiException(500, "The server had an error while processing your request.", "server_error", null, "internal_error"),
        };
        if (api is not null)
        {
            await ErrorWriter.WriteAsync(http, api);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2310, Level = LogLevel.Information, Message = "Session state store: {Store}; replica id {Replica}")]
        public static partial void StateStore(ILogger logger, string store, string replica);

        [LoggerMessage(EventId = 2311, Level = LogLevel.Warning, Message = "No --reasoning-key while {Why}: reasoning sealed here (encrypted_content, thinking signatures) opens on no other replica and not after a restart; give every replica the same key (openssl rand -hex 32)")]
        public static partial void EphemeralSealKey(ILogger logger, string why);
    }
}
