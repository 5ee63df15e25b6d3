using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Quota.Http.Tests.Infrastructure;
using Quota.Server.Hosting;
using Quota.Server.Http;

namespace Quota.Http.Tests;

/// <summary>
/// <c>/openapi/v1.json</c> against the real endpoints: every route the silo maps (but the dashboard, metrics and the
/// document) is in it with its methods, and real answers have a status the document lists for that operation, the media
/// type it says, and JSON that carries every property its schema requires, with the types it gives.
/// </summary>
[Collection(ConfiguredHostCollection.Name)]
public sealed class OpenApiDocumentTests(ConfiguredSilo host) : HostTest(host)
{
    private JsonObject? _document;

    [Fact]
    public async Task Document_is_openapi_3_1_titled_quota_and_served_without_a_token()
    {
        var reply = (await Api.WithAuthorization(null).Get(QuotaOpenApi.DocumentPath)).Expect(HttpStatusCode.OK);

        Assert.Equal("application/json", reply.MediaType);
        Assert.StartsWith("3.1", reply.Json["openapi"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("Quota", reply.Json["info"]!["title"]!.GetValue<string>());
        Assert.Equal("v1", reply.Json["info"]!["version"]!.GetValue<string>());
    }

    [Fact]
    public async Task Every_mapped_route_and_method_is_in_the_document_and_nothing_else()
    {
        var document = await Document();
        var described = ((JsonObject)document["paths"]!)
            .SelectMany(path => ((JsonObject)path.Value!).Select(operation => $"{operation.Key.ToUpperInvariant()} {path.Key}"))
            .Order(StringComparer.Ordinal)
            .ToArray();

        var mapped = MappedRoutes().Where(route => QuotaOpenApi.IsDescribed(route.Split(' ')[1])).Order(StringComparer.Ordinal).ToArray();

        Assert.Contains("POST /v1/acquire", mapped);
        Assert.Contains("GET /v1/admin/tenants/{id}", mapped);
        Assert.Equal(mapped, described);
    }

    [Fact]
    public async Task An_allowed_and_a_denied_acquire_match_the_documented_response()
    {
        var burst = ConfiguredSilo.NewBurst();
        for (var i = 0; i < ConfiguredSilo.BurstLimit; i++)
        {
            await Conforms("post", "/v1/acquire", (await Api.Acquire(new { resources = new[] { burst } })).Expect(HttpStatusCode.OK));
        }

        var denied = (await Api.Acquire(new { resources = new[] { burst } })).Expect(HttpStatusCode.TooManyRequests);
        await Conforms("post", "/v1/acquire", denied);
    }

    [Fact]
    public async Task Refusals_are_documented_problem_details()
    {
        var invalid = await Api.Acquire(new { resources = new[] { ConfiguredSilo.NewBurst() }, priority = "urgent" });
        invalid.ExpectProblem(HttpStatusCode.BadRequest, "priority");
        await Conforms("post", "/v1/acquire", invalid);

        var unknown = await Api.Acquire(new { resources = new[] { Ids.New("never-configured-") } });
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        await Conforms("post", "/v1/acquire", unknown);

        var settle = await Api.Settle(new { leaseId = "not-a-lease", actualCost = 1 });
        settle.ExpectProblem(HttpStatusCode.BadRequest, "leaseId");
        await Conforms("post", "/v1/settle", settle);

        var kind = await Api.Get("/v1/usage/planet/earth");
        kind.ExpectProblem(HttpStatusCode.BadRequest, "kind");
        await Conforms("get", "/v1/usage/{kind}/{id}", kind);
    }

    [Fact]
    public async Task Usage_probes_and_admin_reads_match_the_document()
    {
        var burst = ConfiguredSilo.NewBurst();
        (await Api.Acquire(new { resources = new[] { burst } })).Expect(HttpStatusCode.OK);

        await Conforms("get", "/v1/usage/{kind}/{id}", (await Api.Usage("resource", burst)).Expect(HttpStatusCode.OK));
        await Conforms("get", "/healthz", (await Api.Get("/healthz")).Expect(HttpStatusCode.OK));
        await Conforms("get", "/readyz", (await Api.Get("/readyz")).Expect(HttpStatusCode.OK));
        await Conforms("get", "/v1/admin/users", (await Api.Get("/v1/admin/users")).Expect(HttpStatusCode.OK));
        await Conforms("get", "/v1/admin/changes", (await Api.Get("/v1/admin/changes?limit=0")).Expect(HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task The_queue_list_and_a_queue_s_statistics_are_typed_and_match_the_document()
    {
        var resource = Ids.New("oa-q-res-");
        (await Api.PutResource(resource, Policies.FixedWindow("per-hour", 10, "01:00:00"))).Expect(HttpStatusCode.OK);
        var prefix = Ids.New("oa-q-");
        var queue = prefix + "-a";
        (await Api.PutJson($"/v1/admin/queues/{queue}", new { dispatch = new { resources = new[] { resource } } })).Expect(HttpStatusCode.OK);
        (await Api.PostJson($"/v1/queues/{queue}/items", new { id = "x", deadline = DateTimeOffset.UnixEpoch.AddYears(100) })).Expect(HttpStatusCode.OK);
        try
        {
            await Conforms("get", "/v1/queues/{name}", (await Api.Get($"/v1/queues/{queue}")).Expect(HttpStatusCode.OK));
            var list = (await Api.Get($"/v1/queues?after={prefix}&limit=1")).Expect(HttpStatusCode.OK);
            Assert.Equal(queue, list.Json["queues"]![0]!["name"]!.GetValue<string>());
            await Conforms("get", "/v1/queues", list);
            await Conforms("get", "/v1/queues", (await Api.Get("/v1/queues?limit=0")).Expect(HttpStatusCode.BadRequest));
            Assert.Equal(new HashSet<string> { "queues", "next" }, await AnswerProperties("get", "/v1/queues"));
            Assert.Superset(new HashSet<string> { "name", "depth", "inFlight", "retrying", "dead", "desiredWorkers", "deadlines" }, await AnswerProperties("get", "/v1/queues/{name}"));
        }
        finally
        {
            await Api.Delete($"/v1/admin/queues/{queue}");
        }
    }

    [Fact]
    public async Task Admin_bodies_and_answers_are_typed_not_just_object()
    {
        // What each admin write takes: the properties docs/api.md lists, not an untyped object.
        Assert.Superset(new HashSet<string> { "policies" }, await BodyProperties("put", "/v1/admin/users/{id}"));
        Assert.Superset(new HashSet<string> { "policies" }, await BodyProperties("put", "/v1/admin/resources/{name}"));
        Assert.Superset(new HashSet<string> { "policies" }, await BodyProperties("put", "/v1/admin/keys/{keyId}"));
        Assert.Superset(new HashSet<string> { "key", "policies" }, await BodyProperties("post", "/v1/admin/users/{id}/keys"));
        Assert.Superset(new HashSet<string> { "bufferPercent", "window" }, await BodyProperties("put", "/v1/admin/upstreams/{name}"));
        Assert.Superset(new HashSet<string> { "secret", "policies", "dedicatedTo", "successor" }, await BodyProperties("put", "/v1/admin/upstreams/{name}/tokens/{id}"));
        Assert.Superset(new HashSet<string> { "tier", "upstream", "reserved", "burst", "weight", "strategy", "adaptive" }, await BodyProperties("put", "/v1/admin/tenants/{id}"));
        Assert.Superset(new HashSet<string> { "descriptors" }, await BodyProperties("put", "/v1/admin/domains/{domain}"));
        Assert.Superset(new HashSet<string> { "users", "resources", "keys", "upstreams", "tenants", "queues", "domains" }, await BodyProperties("post", "/v1/admin/apply"));

        // What they answer, checked against real answers.
        var tenant = Ids.New("ten-");
        var upstream = Ids.New("up-");
        await Conforms("put", "/v1/admin/upstreams/{name}", (await Api.PutUpstream(upstream, new { bufferPercent = 0 })).Expect(HttpStatusCode.OK));
        await Conforms("put", "/v1/admin/upstreams/{name}/tokens/{id}", (await Api.PutToken(upstream, "t1", new { secret = "openapi-secret-1", policies = new[] { new { name = "per-minute", algorithm = "fixed-window", limit = 100, window = "00:01:00" } } })).Expect(HttpStatusCode.OK));
        var put = (await Api.PutTenant(tenant, new { upstream, reserved = 10 })).Expect(HttpStatusCode.OK);
        await Conforms("put", "/v1/admin/tenants/{id}", put);
        await Conforms("get", "/v1/admin/tenants/{id}", (await Api.GetTenant(tenant)).Expect(HttpStatusCode.OK));
        Assert.Superset(new HashSet<string> { "id", "tier", "reserved", "configuredReserved", "adaptedAt" }, await AnswerProperties("get", "/v1/admin/tenants/{id}"));
        Assert.Superset(new HashSet<string> { "id", "hasSecret", "limit", "usable", "configuredDedicatedTo" }, await AnswerProperties("get", "/v1/admin/upstreams/{name}/tokens/{id}"));
        Assert.DoesNotContain("secret", await AnswerProperties("get", "/v1/admin/upstreams/{name}/tokens/{id}"));
        var user = Ids.New("user-");
        await Conforms("put", "/v1/admin/users/{id}", (await Api.PutJson($"/v1/admin/users/{user}", new { policies = new[] { new { name = "per-minute", algorithm = "fixed-window", limit = 5, window = "00:01:00" } } })).Expect(HttpStatusCode.OK));
        await Conforms("get", "/v1/admin/users/{id}", (await Api.Get($"/v1/admin/users/{user}")).Expect(HttpStatusCode.OK));
        Assert.Equal(new HashSet<string> { "id", "subject", "own", "policies" }, await AnswerProperties("get", "/v1/admin/users/{id}"));
    }

    [Fact]
    public async Task Key_and_domain_writes_answer_the_types_the_document_gives()
    {
        var user = Ids.New("keys-");
        var registered = (await Api.RegisterKey(user)).Expect(HttpStatusCode.Created);
        await Conforms("post", "/v1/admin/users/{id}/keys", registered);
        Assert.Equal(new HashSet<string> { "keyId", "key", "user", "policies", "note" }, await AnswerProperties("post", "/v1/admin/users/{id}/keys", "201"));
        var keyId = registered.Json["keyId"]!.GetValue<string>();
        var policies = new { policies = new[] { new { name = "per-minute", algorithm = "fixed-window", limit = 5, window = "00:01:00" } } };
        await Conforms("put", "/v1/admin/keys/{keyId}", (await Api.PutJson($"/v1/admin/keys/{keyId}", policies)).Expect(HttpStatusCode.OK));
        await Conforms("get", "/v1/admin/keys/{keyId}", (await Api.GetKey(keyId)).Expect(HttpStatusCode.OK));
        await Conforms("get", "/v1/admin/users/{id}/keys", (await Api.Get($"/v1/admin/users/{user}/keys")).Expect(HttpStatusCode.OK));
        Assert.Equal(new HashSet<string> { "keyId", "label", "user", "policies" }, await AnswerProperties("put", "/v1/admin/keys/{keyId}"));

        var domain = Ids.New("gw-");
        var put = (await Api.Put($"/v1/admin/domains/{domain}", """{"descriptors":[{"key":"remote_address","rate_limit":{"unit":"minute","requests_per_unit":5}},{"key":"path","value":"/login","policy":{"name":"login","algorithm":"fixed-window","limit":3,"window":"00:01:00"}}]}""")).Expect(HttpStatusCode.OK);
        await Conforms("put", "/v1/admin/domains/{domain}", put);
        Assert.Equal("""{"domain":"DOMAIN","descriptors":[{"key":"remote_address","rate_limit":{"unit":"minute","requests_per_unit":5}},{"key":"path","value":"/login","policy":{"name":"login","algorithm":"fixed-window","limit":3,"window":"00:01:00"}}]}""".Replace("DOMAIN", domain, StringComparison.Ordinal), put.Body);
        await Conforms("get", "/v1/admin/domains/{domain}", (await Api.Get($"/v1/admin/domains/{domain}")).Expect(HttpStatusCode.OK));
        await Conforms("get", "/v1/admin/domains", (await Api.Get("/v1/admin/domains")).Expect(HttpStatusCode.OK));
        Assert.Equal(new HashSet<string> { "domain", "descriptors" }, await AnswerProperties("put", "/v1/admin/domains/{domain}"));
        Assert.Superset(new HashSet<string> { "key", "value", "rate_limit", "policy", "descriptors" }, Properties(Items(await AnswerSchema("get", "/v1/admin/domains/{domain}"), "descriptors"), "a descriptor"));
        Assert.Equal(HttpStatusCode.NoContent, (await Api.Delete($"/v1/admin/domains/{domain}")).Status);
    }

    [Fact]
    public async Task Change_log_apply_scheduler_and_lists_answer_the_types_the_document_gives()
    {
        var user = Ids.New("typed-");
        var document = System.Text.Json.JsonSerializer.Serialize(new { users = new Dictionary<string, object> { [user] = new { policies = new[] { new { name = "per-minute", algorithm = "fixed-window", limit = 5, window = "00:01:00" } } } } });
        await Conforms("post", "/v1/admin/apply", (await Api.Apply(document, dryRun: true)).Expect(HttpStatusCode.OK));
        await Conforms("post", "/v1/admin/apply", (await Api.Apply(document)).Expect(HttpStatusCode.OK));
        await Conforms("get", "/v1/admin/changes", (await Api.Get($"/v1/admin/changes?subject=user:{user}")).Expect(HttpStatusCode.OK));
        await Conforms("get", "/v1/admin/users", (await Api.Get("/v1/admin/users")).Expect(HttpStatusCode.OK));
        await Conforms("get", "/v1/admin/keys", (await Api.Get("/v1/admin/keys")).Expect(HttpStatusCode.OK));
        await Conforms("get", "/v1/admin/resources", (await Api.Get("/v1/admin/resources")).Expect(HttpStatusCode.OK));
        await Conforms("get", "/v1/admin/upstreams", (await Api.Get("/v1/admin/upstreams")).Expect(HttpStatusCode.OK));
        await Conforms("get", "/v1/admin/tenants", (await Api.Get("/v1/admin/tenants")).Expect(HttpStatusCode.OK));
        await Conforms("get", "/v1/admin/scheduler", (await Api.Get("/v1/admin/scheduler")).Expect(HttpStatusCode.OK));
        await Conforms("get", "/v1/admin/scheduler/history", (await Api.Get("/v1/admin/scheduler/history")).Expect(HttpStatusCode.OK));
        await Conforms("get", "/", (await Api.Get("/")).Expect(HttpStatusCode.OK));
        Assert.Equal(new HashSet<string> { "dryRun", "changes", "summary", "adapted" }, await AnswerProperties("post", "/v1/admin/apply"));
        Assert.Equal(new HashSet<string> { "sequence", "at", "subject", "action", "source", "old", "new" }, Properties(Items(await AnswerSchema("get", "/v1/admin/changes"), "changes"), "a change"));
    }

    [Fact]
    public async Task Every_success_answer_of_every_route_is_typed()
    {
        // A success answer is typed when it has content (but 204) whose every media type has a schema that says what
        // it holds: an object with properties, an array of typed items, a string, a number or a boolean.
        var untyped = new List<(string Route, string Why)>();
        foreach (var (path, item) in (JsonObject)(await Document())["paths"]!)
        {
            foreach (var (method, operation) in (JsonObject)item!)
            {
                var route = $"{method.ToUpperInvariant()} {path}";
                var successes = ((JsonObject)operation!["responses"]!).Where(r => r.Key.StartsWith('2')).ToList();
                if (successes.Count == 0)
                {
                    untyped.Add((route, "lists no success answer"));
                }

                foreach (var (status, response) in successes.Where(r => r.Key != "204"))
                {
                    if (response!["content"] is not JsonObject { Count: > 0 } content)
                    {
                        untyped.Add((route, $"{status} has no content"));
                        continue;
                    }

                    foreach (var (media, body) in content)
                    {
                        if (!Typed(body?["schema"]))
                        {
                            untyped.Add((route, $"{status} {media} is {body?["schema"]?.ToJsonString() ?? "without a schema"}"));
                        }
                    }
                }
            }
        }

        Assert.True(untyped.Count == 0, $"Untyped success answers:\n{string.Join("\n", untyped.Select(u => $"{u.Route}: {u.Why}"))}");
    }

    /// <summary>Whether <paramref name="schema"/> (following $ref) says what it holds; an untyped object or <c>{}</c> does not.</summary>
    private bool Typed(JsonNode? schema)
    {
        if (schema?["$ref"] is { } reference)
        {
            schema = _document!["components"]!["schemas"]![reference.GetValue<string>()["#/components/schemas/".Length..]];
        }

        if (schema is null)
        {
            return false;
        }

        if ((schema["oneOf"] ?? schema["anyOf"]) is JsonArray choices)
        {
            return choices.All(Typed);
        }

        var types = schema["type"] switch
        {
            JsonArray many => many.Select(t => t!.GetValue<string>()).Where(t => t != "null").ToArray(),
            { } one => [one.GetValue<string>()],
            null => [],
        };
        return types switch
        {
            ["object"] => schema["properties"] is JsonObject { Count: > 0 },
            ["array"] => Typed(schema["items"]),
            [var primitive] => primitive is "string" or "integer" or "number" or "boolean",
            _ => false,
        };
    }

    private async Task<HashSet<string>> BodyProperties(string method, string path)
    {
        var operation = (await Document())["paths"]![path]?[method] ?? throw new Xunit.Sdk.XunitException($"The document has no {method.ToUpperInvariant()} {path}.");
        var content = operation["requestBody"]?["content"] as JsonObject ?? throw new Xunit.Sdk.XunitException($"{method.ToUpperInvariant()} {path} declares no request body.");
        return Properties(content.First().Value!["schema"]!, $"{method.ToUpperInvariant()} {path}'s body");
    }

    private async Task<HashSet<string>> AnswerProperties(string method, string path, string status = "200") =>
        Properties(await AnswerSchema(method, path, status), $"{method.ToUpperInvariant()} {path}'s {status}");

    private async Task<JsonNode> AnswerSchema(string method, string path, string status = "200")
    {
        var operation = (await Document())["paths"]![path]?[method] ?? throw new Xunit.Sdk.XunitException($"The document has no {method.ToUpperInvariant()} {path}.");
        return operation["responses"]![status]?["content"]?["application/json"]?["schema"]
            ?? throw new Xunit.Sdk.XunitException($"{method.ToUpperInvariant()} {path} has no JSON {status} answer.");
    }

    /// <summary>The schema of the items of the array property <paramref name="property"/> of <paramref name="schema"/> (following $ref).</summary>
    private JsonNode Items(JsonNode schema, string property)
    {
        schema = Resolve(schema);
        var items = schema["properties"]?[property]?["items"] ?? throw new Xunit.Sdk.XunitException($"{schema.ToJsonString()} has no array {property}.");
        return Resolve(items);
    }

    private JsonNode Resolve(JsonNode schema) => schema["$ref"] is { } reference
        ? _document!["components"]!["schemas"]![reference.GetValue<string>()["#/components/schemas/".Length..]]!
        : schema;

    /// <summary>The property names of a schema, following a $ref; an untyped object has none.</summary>
    private HashSet<string> Properties(JsonNode schema, string what)
    {
        if (schema["$ref"] is { } reference)
        {
            schema = _document!["components"]!["schemas"]![reference.GetValue<string>()["#/components/schemas/".Length..]]!;
        }

        var properties = schema["properties"] as JsonObject ?? throw new Xunit.Sdk.XunitException($"{what} is described as {schema.ToJsonString()}, not a typed object.");
        return [.. properties.Select(p => p.Key)];
    }

    /// <summary>
    /// The routes the silo really maps, as "METHOD /path": the host is built exactly as the silo builds it
    /// (<see cref="QuotaSiloHostingExtensions.AddQuotaSilo"/>, <see cref="QuotaApplicationExtensions.UseQuota"/>) and read
    /// without being started.
    /// </summary>
    private static List<string> MappedRoutes()
    {
        var builder = WebApplication.CreateBuilder(["--urls=http://127.0.0.1:0"]);
        builder.AddQuotaSilo();
        using var app = builder.Build();
        app.UseQuota();
        return ((IEndpointRouteBuilder)app).DataSources
            .SelectMany(source => source.Endpoints)
            .OfType<RouteEndpoint>()
            .SelectMany(endpoint => (endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"])
                .Select(method => $"{method} /{endpoint.RoutePattern.RawText!.Trim('/')}")) // a group's own route ends in "/", which the document drops
            .Where(route => route != "GET /") // the root's pattern is "/", written the same way
            .Append("GET /")
            .Distinct()
            .ToList();
    }

    /// <summary>Asserts the document lists <paramref name="reply"/>'s status for the operation, its media type, and that its JSON fits the schema.</summary>
    private async Task Conforms(string method, string path, Reply reply)
    {
        var operation = (await Document())["paths"]![path]?[method]
            ?? throw new Xunit.Sdk.XunitException($"The document has no {method.ToUpperInvariant()} {path}.");
        var status = ((int)reply.Status).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var response = operation["responses"]![status]
            ?? throw new Xunit.Sdk.XunitException($"{method.ToUpperInvariant()} {path} answered {status}, which the document does not list (it lists {string.Join(", ", ((JsonObject)operation["responses"]!).Select(r => r.Key))}). Body: {reply.Body}");
        var content = response["content"] as JsonObject;
        Assert.True(content is not null && content.ContainsKey(reply.MediaType!), $"{method.ToUpperInvariant()} {path} {status} answered {reply.MediaType}; the document says {content?.ToJsonString() ?? "no content"}.");
        if (reply.MediaType!.EndsWith("json", StringComparison.Ordinal) && content![reply.MediaType]!["schema"] is { } schema)
        {
            var problems = new List<string>();
            Check(JsonNode.Parse(reply.Body), schema, "$", problems);
            Assert.True(problems.Count == 0, $"{method.ToUpperInvariant()} {path} {status} does not fit its schema: {string.Join("; ", problems)}. Body: {reply.Body}");
        }

        if (reply.MediaType == "application/problem+json")
        {
            Assert.Equal((int)reply.Status, reply.Json["status"]!.GetValue<int>());
            Assert.NotNull(reply.Json["title"]);
        }
    }

    /// <summary>The JSON Schema subset the generator writes: $ref, oneOf, type (one or several), required, properties, items.</summary>
    private void Check(JsonNode? value, JsonNode schema, string at, List<string> problems)
    {
        if (schema["$ref"] is { } reference)
        {
            var name = reference.GetValue<string>()["#/components/schemas/".Length..];
            Check(value, _document!["components"]!["schemas"]![name]!, at, problems);
            return;
        }

        if (schema["oneOf"] is JsonArray choices)
        {
            var fits = choices.Count(choice =>
            {
                var found = new List<string>();
                Check(value, choice!, at, found);
                return found.Count == 0;
            });
            if (fits == 0)
            {
                problems.Add($"{at} fits none of {choices.ToJsonString()}");
            }

            return;
        }

        if (schema["type"] is { } type)
        {
            var allowed = type is JsonArray many ? many.Select(t => t!.GetValue<string>()).ToArray() : [type.GetValue<string>()];
            var actual = value switch
            {
                null => "null",
                JsonObject => "object",
                JsonArray => "array",
                JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => "string",
                JsonValue v when v.GetValueKind() is System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False => "boolean",
                JsonValue v when v.ToJsonString().Contains('.', StringComparison.Ordinal) => "number",
                _ => "integer",
            };
            if (!allowed.Contains(actual) && !(actual == "integer" && allowed.Contains("number")))
            {
                problems.Add($"{at} is {actual}; the schema allows {string.Join(" or ", allowed)}");
                return;
            }
        }

        if (value is JsonObject obj)
        {
            foreach (var required in schema["required"] as JsonArray ?? [])
            {
                if (!obj.ContainsKey(required!.GetValue<string>()))
                {
                    problems.Add($"{at}.{required} is required but missing");
                }
            }

            foreach (var property in schema["properties"] as JsonObject ?? [])
            {
                if (obj.TryGetPropertyValue(property.Key, out var child))
                {
                    Check(child, property.Value!, $"{at}.{property.Key}", problems);
                }
            }
        }
        else if (value is JsonArray array && schema["items"] is { } items)
        {
            for (var i = 0; i < array.Count; i++)
            {
                Check(array[i], items, $"{at}[{i}]", problems);
            }
        }
    }

    private async Task<JsonObject> Document() =>
        _document ??= (await Api.Get(QuotaOpenApi.DocumentPath)).Expect(HttpStatusCode.OK).Json;
}
