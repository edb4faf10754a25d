using YoutuServer.Api;
using YoutuServer.Hosting;

namespace YoutuServer.Models;

/// <summary>Maps a request's "model" to what serves it: the base model or one of its LoRA adapters.</summary>
internal static class ModelResolver
{
    /// <summary>404 model_not_found unless the name is the served model, one of its aliases or a loaded adapter.</summary>
    public static void Check(EngineHost host, string? model) => Resolve(host, model);

    /// <summary>
    /// The adapter id to generate with, or null for the base model (empty "model", its id or an alias). Any other
    /// name is a 404 model_not_found, as before.
    /// </summary>
    public static string? Resolve(EngineHost host, string? model)
    {
        if (string.IsNullOrEmpty(model))
        {
            return null;
        }

        if (string.Equals(model, host.ServedModelId, StringComparison.OrdinalIgnoreCase)
            || host.ServedAliases.Any(a => string.Equals(a, model, StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }

        foreach (var a in host.ServedAdapters)
        {
            if (string.Equals(a.Id, model, StringComparison.OrdinalIgnoreCase))
            {
                return a.Id;
            }
        }

        throw new ApiException(404, $"The model '{model}' does not exist or you do not have access to it. This server serves '{host.ServedModelId}'"
            + (host.ServedAdapters.Count > 0 ? $" and its adapters {string.Join(", ", host.ServedAdapters.Select(a => $"'{a.Id}'"))}." : "."),
            "invalid_request_error", "model", "model_not_found");
    }
}
