using System.Text.Json;
using YoutuServer.Api.Common;
using YoutuServer.Api.Serving;
using YoutuServer.Generation;
using YoutuServer.Hosting;
using YoutuServer.Http;
using YoutuServer.State;
using YoutuServer.Operations;

namespace YoutuServer.Api;

/// <summary>
/// The API's shared surface: the error handling of every route, models, tokenizer utilities, health and the 404
/// fallback. Each wire format maps its own routes (its folder's <c>Map</c>).
/// </summary>
internal static class ApiEndpoints
{
    /// <summary>Error shapes: each route's own (endpoint metadata), OpenAI's where a route names none.</summary>
    public static ErrorShapes ErrorShapes() => new(OpenAIErrorShape.Instance);

    public static void Map(WebApplication app)
    {
        // Client mistakes are ApiExceptions: write them here so they never reach the 500 handler or its error log.
        app.Use(async (http, next) =>
        {
            try
            {
                await next(http);
            }
            catch (ApiException e)
            {
                Operations.RequestObserver.Refused(http, e);
                await ErrorWriter.WriteAsync(http, e);
            }
            catch (IntentException e)
            {
                // A route that did not name the fields itself (tokenize, models): the common names.
                var api = IntentErrors.ToApi(e, FieldNames.SnakeCase);
                Operations.RequestObserver.Refused(http, api);
                await ErrorWriter.WriteAsync(http, api);
            }
            catch (StateUnavailableException e)
            {
                // A state service outside the lifecycle (stored responses): 503 in the route's shape.
                var api = IntentErrors.Unavailable(e);
                Operations.RequestObserver.Refused(http, api);
                await ErrorWriter.WriteAsync(http, api);
            }
            catch (BadHttpRequestException e) when (e.StatusCode == 413)
            {
                await ErrorWriter.WriteAsync(http, new ApiException(413, "The request body is too large.", "invalid_request_error", null, "request_too_large"));
            }
            catch (InvalidOperationException e) when (e.TargetSite?.DeclaringType?.Assembly == typeof(JsonElement).Assembly)
            {
                // JsonElement fields (content, stop, prompt, tools, ...) are transcoded lazily: invalid UTF-8 or an
                // unpaired surrogate escape inside them throws here, during planning, not while parsing the body.
                var bad = new ApiException(400, "The request body is not valid UTF-8 JSON (invalid UTF-8 or an unpaired surrogate escape in a string).", "invalid_request_error", null, "invalid_json");
                Operations.RequestObserver.Refused(http, bad);
                await ErrorWriter.WriteAsync(http, bad);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException
                && (http.RequestAborted.IsCancellationRequested || (e as OperationCanceledException)?.CancellationToken.IsCancellationRequested == true))
            {
                // The client went away — possibly noticed by a write (the role chunk, a JSON body) before
                // RequestAborted fired. Nothing to answer and not a server error; the engine drops the request
                // through its RequestAborted registration.
                http.Record().Status = 499;
            }
        });

        app.MapGet("/v1/models", (EngineHost host) => WireJson.Result(ModelsList(host), ApiJsonContext.Wire.ModelList)).WithName("ListModels")
            .WithSummary("Models served").Produces<ModelList>(200);
        app.MapGet("/v1/models/{id}", (string id, EngineHost host) =>
        {
            ModelResolver.Check(host, id);
            var cards = ModelsList(host).Data;
            return WireJson.Result(cards.FirstOrDefault(c => string.Equals(c.Id, id, StringComparison.OrdinalIgnoreCase)) ?? cards[0], ApiJsonContext.Wire.ModelCard);
        }).WithName("RetrieveModel").WithSummary("One model").Produces<ModelCard>(200).WithOpenAIErrors(404);
        app.MapPost("/tokenize", TokenizeAsync).WithName("Tokenize").WithSummary("Text to token ids")
            .Accepts<TokenizeRequest>("application/json").Produces<TokenizeResponse>(200).WithOpenAIErrors(400);
        app.MapPost("/detokenize", DetokenizeAsync).WithName("Detokenize").WithSummary("Token ids to text")
            .Accepts<DetokenizeRequest>("application/json").Produces<DetokenizeResponse>(200).WithOpenAIErrors(400);

        // Accepts() above makes routing match only JSON bodies (and documents them); these undocumented,
        // lower-priority twins take every other content type so the body reader answers with the usual 400.
        app.MapPost("/tokenize", TokenizeAsync).WithOrder(1).ExcludeFromDescription();
        app.MapPost("/detokenize", DetokenizeAsync).WithOrder(1).ExcludeFromDescription();

        app.MapGet("/health/live", () => Results.Text("{\"status\":\"ok\"}", "application/json"));
        app.MapGet("/health/ready", Ready);
        app.MapGet("/health", Ready);

        app.MapFallback(GenerationRoutes.UnknownRoute);
    }

    private static IResult Ready(EngineHost host, State.StateStoreStatus state)
    {
        if (!host.IsReady)
        {
            return Results.Text("{\"status\":\"loading\"}", "application/json", statusCode: 503);
        }

        var stats = host.Engine.Stats;
        return stats.Draining || !stats.Running
            ? Results.Text("{\"status\":\"draining\"}", "application/json", statusCode: 503)
            : Results.Text($"{{\"status\":\"ok\",\"model\":{JsonSerializer.Serialize(host.ServedModelId, ApiJsonContext.Wire.String)},\"queue_depth\":{stats.QueueDepth},\"active_sequences\":{stats.ActiveSequences},\"backend\":{JsonSerializer.Serialize(stats.Backend, ApiJsonContext.Wire.String)},\"gpu_layers\":{stats.GpuLayers},\"state_store\":{StateStoreJson(state)}}}", "application/json");
    }

    /// <summary>The store's kind and, for a shared one, whether it answers. A store that is down does not make the
    /// replica unready: stateless requests still work, and taking every replica out of rotation would stop those too.</summary>
    private static string StateStoreJson(State.StateStoreStatus state) =>
        state.Up is { } up ? $"{{\"kind\":\"{state.Kind}\",\"up\":{(up ? "true" : "false")}}}" : $"{{\"kind\":\"{state.Kind}\"}}";

    private static ModelList ModelsList(EngineHost host)
    {
        var created = new DateTimeOffset(File.GetLastWriteTimeUtc(host.Engine.ModelPath)).ToUnixTimeSeconds();
        var cards = new List<ModelCard>
        {
            new()
            {
                Id = host.ServedModelId,
                Created = created,
                ContextLength = host.Engine.Options.CtxSize,
                Description = host.IsDemoModel ? "synthesized demo model (random weights)" : host.CatalogEntry?.Description,
            },
        };
        cards.AddRange(host.ServedAdapters.Select(a => new ModelCard
        {
            Id = a.Id,
            Created = created,
            ContextLength = host.Engine.Options.CtxSize,
            Description = a.Description,
            Parent = host.ServedModelId,
            Root = host.ServedModelId,
        }));
        if (host.StandsInFor is { } standIn && !string.Equals(standIn, host.ServedModelId, StringComparison.OrdinalIgnoreCase))
        {
            // The default model's weights are missing: its id is answered by the demo model, and listed as such.
            cards.Add(new ModelCard
            {
                Id = standIn,
                Created = created,
                ContextLength = host.Engine.Options.CtxSize,
                Description = $"weights not downloaded: answered by the synthesized demo model (random weights); run `youtu-server pull {standIn}`",
            });
        }

        return new ModelList { Data = cards };
    }

    private static async Task<IResult> TokenizeAsync(HttpContext http, EngineHost host)
    {
        var r = await RequestBody.ReadAsync(http, ApiJsonContext.Wire.TokenizeRequest);
        ModelResolver.Check(host, r.Model);
        var text = r.Content ?? r.Prompt ?? throw ApiException.BadRequest("'content' is required.", "content");
        // Bounded (4x the larger of the served and the trained context, at least 64k), so that a body of alternating
        // markers and text cannot keep a request thread tokenizing for minutes; documents longer than the context
        // can still be counted.
        var limit = Math.Max(65_536, 4 * Math.Max(host.Engine.Options.CtxSize, host.Engine.ContextTrain));
        var tokens = host.Engine.TryTokenize(text, addSpecial: r.AddSpecial ?? false, parseSpecial: true, limit, out var atLeast)
            ?? throw ApiException.BadRequest(
                $"The text is too long to tokenize here: at least {atLeast} tokens, more than the {limit} this server allows.",
                "content", "context_length_exceeded");
        return WireJson.Result(new TokenizeResponse
        {
            Tokens = tokens,
            Count = tokens.Length,
            Pieces = r.WithPieces == true ? tokens.Select(t => host.Engine.Detokenize([t], renderSpecial: true)).ToList() : null,
        }, ApiJsonContext.Wire.TokenizeResponse);
    }

    private static async Task<IResult> DetokenizeAsync(HttpContext http, EngineHost host)
    {
        var r = await RequestBody.ReadAsync(http, ApiJsonContext.Wire.DetokenizeRequest);
        ModelResolver.Check(host, r.Model);
        var tokens = r.Tokens ?? throw ApiException.BadRequest("'tokens' is required.", "tokens");
        var vocab = host.Engine.VocabSize;
        for (var i = 0; i < tokens.Count; i++)
        {
            if ((uint)tokens[i] >= (uint)vocab)
            {
                throw ApiException.BadRequest($"tokens[{i}] = {tokens[i]} is outside the vocabulary (0..{vocab - 1}).", $"tokens[{i}]");
            }
        }

        return WireJson.Result(new DetokenizeResponse { Content = host.Engine.Detokenize(tokens.ToArray(), renderSpecial: true) }, ApiJsonContext.Wire.DetokenizeResponse);
    }
}
