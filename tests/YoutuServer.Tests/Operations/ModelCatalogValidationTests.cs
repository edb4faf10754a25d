using System.Text.Json.Nodes;
using YoutuServer.Models;

namespace YoutuServer.Tests.Operations;

public sealed class ModelCatalogValidationTests
{
    private static string Shipped => RepoFiles.Read("models.json");

    private static InvalidDataException Broken(Action<JsonNode> mutate)
    {
        var doc = JsonNode.Parse(Shipped)!;
        mutate(doc);
        return Assert.Throws<InvalidDataException>(() => ModelCatalog.Parse(doc.ToJsonString(), RepoFiles.Root, "models.json"));
    }

    private static JsonObject Entry(JsonNode doc, int i) => doc["models"]![i]!.AsObject();

    [Fact]
    public void The_shipped_models_json_is_valid()
    {
        var catalog = ModelCatalog.Load(RepoFiles.PathOf("models.json"));

        Assert.Empty(catalog.Validate());
        Assert.NotNull(catalog.Default);
        Assert.Equal("youtu-llm-2b", catalog.Default!.Id);
        Assert.All(catalog.Models, m =>
        {
            var url = ModelCatalog.DownloadUrl(m);
            Assert.NotNull(url);
            Assert.Equal(Uri.UriSchemeHttps, url!.Scheme);
            Assert.EndsWith(".gguf", m.Path, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void The_shipped_sampling_presets_are_the_recommended_ones()
    {
        var catalog = ModelCatalog.Load(RepoFiles.PathOf("models.json"));

        Assert.All(catalog.Models, m =>
        {
            var thinking = m.Sampling!.Thinking!;
            var normal = m.Sampling!.Normal!;
            Assert.Equal((1.0f, 0.95f, 20, 1.05f), (thinking.Temperature!.Value, thinking.TopP!.Value, thinking.TopK!.Value, thinking.RepetitionPenalty!.Value));
            Assert.Equal((0.7f, 0.8f, 20), (normal.Temperature!.Value, normal.TopP!.Value, normal.TopK!.Value));
        });
    }

    [Fact]
    public void Every_alias_resolves_to_its_entry()
    {
        var catalog = ModelCatalog.Load(RepoFiles.PathOf("models.json"));

        foreach (var m in catalog.Models)
        {
            Assert.Same(m, catalog.Find(m.Id));
            Assert.All(m.Aliases, a => Assert.Same(m, catalog.Find(a.ToUpperInvariant())));
        }
    }

    [Fact]
    public void A_missing_id_names_the_index_and_the_field() =>
        Assert.Contains("models[1]: field 'id' is required", Broken(d => Entry(d, 1).Remove("id")).Message, StringComparison.Ordinal);

    [Fact]
    public void A_missing_path_names_the_entry_and_the_field() =>
        Assert.Contains("model 'youtu-llm-2b-f16': field 'path' is required", Broken(d => Entry(d, 1).Remove("path")).Message, StringComparison.Ordinal);

    [Fact]
    public void A_negative_context_length_names_the_entry_and_the_field() =>
        Assert.Contains("model 'youtu-llm-2b-q4_k_m': field 'context_length' must be positive",
            Broken(d => Entry(d, 2)["context_length"] = -1).Message, StringComparison.Ordinal);

    [Fact]
    public void A_bad_sha256_names_the_entry_and_the_field() =>
        Assert.Contains("model 'youtu-llm-2b': field 'source.sha256' must be 64 hex digits",
            Broken(d => Entry(d, 0)["source"]!["sha256"] = "abc123").Message, StringComparison.Ordinal);

    [Fact]
    public void A_non_http_url_names_the_entry_and_the_field() =>
        Assert.Contains("model 'youtu-llm-2b': field 'source.url' is not an absolute http(s) URL",
            Broken(d => Entry(d, 0)["source"]!["url"] = "ftp://example.com/x.gguf").Message, StringComparison.Ordinal);

    [Fact]
    public void A_source_without_url_or_repo_names_the_entry() =>
        Assert.Contains("model 'youtu-llm-2b-f16': field 'source' needs 'url', or 'repo' and 'file'",
            Broken(d =>
            {
                var s = Entry(d, 1)["source"]!.AsObject();
                s.Remove("url");
                s.Remove("repo");
            }).Message, StringComparison.Ordinal);

    [Fact]
    public void A_source_with_repo_and_file_but_no_url_resolves_to_the_hugging_face_url()
    {
        var doc = JsonNode.Parse(Shipped)!;
        Entry(doc, 1)["source"]!.AsObject().Remove("url");
        var catalog = ModelCatalog.Parse(doc.ToJsonString(), RepoFiles.Root);

        Assert.Equal("https://huggingface.co/tencent/Youtu-LLM-2B-GGUF/resolve/main/Youtu-LLM-2B-F16.gguf",
            ModelCatalog.DownloadUrl(catalog.Models[1])!.ToString());
    }

    [Fact]
    public void An_out_of_range_sampling_value_names_the_mode_and_the_field() =>
        Assert.Contains("model 'youtu-llm-2b': field 'sampling.thinking.top_p' must be within (0, 1]",
            Broken(d => Entry(d, 0)["sampling"]!["thinking"]!["top_p"] = 1.5).Message, StringComparison.Ordinal);

    [Fact]
    public void A_duplicate_alias_names_the_entry_and_the_name() =>
        Assert.Contains("model 'youtu-llm-2b-f16': name 'Youtu-LLM-2B' is used by another entry",
            Broken(d => Entry(d, 1)["aliases"]!.AsArray().Add("Youtu-LLM-2B")).Message, StringComparison.Ordinal);

    [Fact]
    public void Two_entries_with_the_same_file_name_are_rejected() =>
        Assert.Contains("model 'youtu-llm-2b-f16': field 'path' has the same file name as model 'youtu-llm-2b'",
            Broken(d => Entry(d, 1)["path"] = "elsewhere/Youtu-LLM-2B-Q8_0.gguf").Message, StringComparison.Ordinal);

    [Fact]
    public void A_misspelled_field_is_reported_instead_of_ignored() =>
        Assert.Contains("model 'youtu-llm-2b': unknown field 'context_lenght'",
            Broken(d => Entry(d, 0)["context_lenght"] = 4096).Message, StringComparison.Ordinal);

    [Fact]
    public void A_misspelled_nested_field_names_its_path() =>
        Assert.Contains("model 'youtu-llm-2b-f16': unknown field 'sampling.normal.temprature'",
            Broken(d => Entry(d, 1)["sampling"]!["normal"]!["temprature"] = 0.5).Message, StringComparison.Ordinal);

    [Fact]
    public void A_value_of_the_wrong_type_names_the_entry_the_field_and_the_line()
    {
        var json = Shipped.Replace("\"context_length\": 131072", "\"context_length\": \"big\"", StringComparison.Ordinal);
        var line = json[..json.IndexOf("\"big\"", StringComparison.Ordinal)].Count(c => c == '\n') + 1;

        var e = Assert.Throws<InvalidDataException>(() => ModelCatalog.Parse(json, RepoFiles.Root, "models.json"));

        Assert.Contains($"model 'youtu-llm-2b': field 'context_length' has a value of the wrong type (line {line})", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_default_that_names_no_model_is_rejected() =>
        Assert.Contains("field 'default': no model named 'gpt-5'", Broken(d => d["default"] = "gpt-5").Message, StringComparison.Ordinal);

    [Fact]
    public void An_empty_model_list_is_rejected() =>
        Assert.Contains("field 'models' must list at least one model",
            Broken(d =>
            {
                d["models"] = new JsonArray();
                d.AsObject().Remove("default");
            }).Message, StringComparison.Ordinal);

    [Fact]
    public void Several_problems_are_all_reported_at_once()
    {
        var message = Broken(d =>
        {
            Entry(d, 0)["context_length"] = 0;
            Entry(d, 2)["source"]!["size"] = -3;
        }).Message;

        Assert.Contains("model 'youtu-llm-2b': field 'context_length'", message, StringComparison.Ordinal);
        Assert.Contains("model 'youtu-llm-2b-q4_k_m': field 'source.size' must be positive", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_json_reports_the_line()
    {
        var e = Assert.Throws<InvalidDataException>(() => ModelCatalog.Parse("{\n  \"models\": [\n    { \"id\": }\n  ]\n}", RepoFiles.Root, "models.json"));

        Assert.StartsWith("models.json: not valid JSON (line 3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Adapters_name_their_base_and_resolve_their_files_like_models()
    {
        var doc = JsonNode.Parse(Shipped)!;
        doc["adapters"] = JsonNode.Parse("""[{"id":"sql","path":"youtu-sql-lora.gguf","base":"youtu-llm-2b","scale":0.5,"description":"text-to-SQL"}]""");
        var catalog = ModelCatalog.Parse(doc.ToJsonString(), RepoFiles.Root, "models.json");
        var adapter = Assert.Single(catalog.AdaptersFor(catalog.Find("youtu-llm-2b")!));
        Assert.Equal(("sql", 0.5f), (adapter.Id, adapter.Scale!.Value));
        Assert.Equal(Path.Combine(RepoFiles.Root, "youtu-sql-lora.gguf"), catalog.AdapterPath(adapter));
        Assert.Equal(Path.Combine("/models", "youtu-sql-lora.gguf"), catalog.AdapterPath(adapter, "/models"));
        Assert.Empty(catalog.AdaptersFor(catalog.Models.First(m => m.Id != "youtu-llm-2b")));
    }

    [Theory]
    [InlineData("""[{"id":"sql","path":"a.gguf","base":"no-such-model"}]""", "adapter 'sql': field 'base': no model named 'no-such-model'")]
    [InlineData("""[{"id":"sql","path":"a.gguf"}]""", "adapter 'sql': field 'base' is required")]
    [InlineData("""[{"id":"sql","base":"youtu-llm-2b"}]""", "adapter 'sql': field 'path' is required")]
    [InlineData("""[{"id":"youtu-llm-2b","path":"a.gguf","base":"youtu-llm-2b"}]""", "name 'youtu-llm-2b' is used by another entry")]
    [InlineData("""[{"id":"sql","path":"a.gguf","base":"youtu-llm-2b","scale":-1}]""", "field 'scale' must be a finite number >= 0")]
    [InlineData("""[{"id":"sql","path":"a.gguf","base":"youtu-llm-2b","rank":8}]""", "rank")]
    public void Broken_adapter_entries_are_refused_with_the_entry_and_field(string adapters, string expected)
    {
        var e = Broken(doc => doc["adapters"] = JsonNode.Parse(adapters));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
