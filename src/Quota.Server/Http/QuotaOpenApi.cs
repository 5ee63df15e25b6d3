using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;

namespace Quota.Server.Http;

/// <summary>
/// The OpenAPI document of the HTTP API, generated from the mapped endpoints by Microsoft.AspNetCore.OpenApi and served
/// at <see cref="DocumentPath"/>. It describes every route under <c>/v1</c> and the health probes with the bodies they
/// accept, the statuses they answer and, for refusals, RFC 9457 problem details; the Orleans Dashboard, <c>/metrics</c>
/// and the document itself are not part of it. The document needs no credential: what it describes needs what it says.
/// </summary>
public static class QuotaOpenApi
{
    /// <summary>The document's name (its version).</summary>
    public const string DocumentName = "v1";

    /// <summary>Where the document is served.</summary>
    public const string DocumentPath = "/openapi/v1.json";

    /// <summary>The statuses every admin operation may answer with problem details besides its own.</summary>
    internal static readonly int[] AdminRefusals = [StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status429TooManyRequests];

    /// <summary>Registers the document's generator.</summary>
    public static IServiceCollection AddQuotaOpenApi(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);

        // The generator describes bodies with ASP.NET Core's JSON options; responses are written with, whose enums are camelCase strings, so the schemas say the same.
        // HttpJson.ResponseOptions, whose enums are camelCase strings, so the schemas say the same. Numbers are JSON numbers
        // only: request bodies are read strictly (HttpJson.StrictOptions), so "1" is no integer.
        services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase));
            json.SerializerOptions.NumberHandling = JsonNumberHandling.Strict;
        });
        services.AddOpenApi(DocumentName, options =>
        {
            options.ShouldInclude = description => description.RelativePath is { } path && IsDescribed("/" + path);
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "Quota",
                    Version = DocumentName,
                    Description = "Distributed quotas and rate limits: may I do this now, and with which credential? "
                        + "Decisions under /v1 (200 allowed, 429 denied with Retry-After), administration under /v1/admin "
                        + "(a bearer token, Quota:Admin:Token, or a loopback caller). Refusals are RFC 9457 problem details "
                        + "whose errors list names each field and how to fix it.",
                };
                return Task.CompletedTask;
            });

            // An operation that declares no success of its own is described as answering 200 with an untyped object:
            // OpenApiDocumentTests fails on every such answer but the queue routes it names, so a new route declares its type.
            options.AddOperationTransformer((operation, _, _) =>
            {
                operation.Responses ??= [];
                if (!operation.Responses.Keys.Any(status => status.StartsWith('2')))
                {
                    operation.Responses["200"] = new OpenApiResponse
                    {
                        Description = "OK: the stored object, as JSON (docs/api.md describes each).",
                        Content = new Dictionary<string, OpenApiMediaType> { ["application/json"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.Object } } },
                    };
                }

                return Task.CompletedTask;
            });
        });
        return services;
    }

    /// <summary>Serves the document at <see cref="DocumentPath"/>.</summary>
    public static IEndpointRouteBuilder MapQuotaOpenApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapOpenApi("/openapi/{documentName}.json");
        return app;
    }

    /// <summary>
    /// Describes the JSON body <typeparamref name="T"/> that an endpoint reads itself (<c>HttpJson.ReadAsync</c>), in the
    /// document only. Unlike <c>Accepts&lt;T&gt;</c> it adds no routing metadata: a bodiless request with any
    /// <c>Content-Type</c> still reaches the endpoint, and a wrong type is still answered by the cross-site guard's problem.
    /// </summary>
    internal static RouteHandlerBuilder Takes<T>(this RouteHandlerBuilder builder) =>
        builder.AddOpenApiOperationTransformer(async (operation, context, cancellationToken) =>
        {
            var schema = await context.GetOrCreateSchemaAsync(typeof(T), null, cancellationToken);
            operation.RequestBody = new OpenApiRequestBody
            {
                Content = new Dictionary<string, OpenApiMediaType> { ["application/json"] = new() { Schema = schema } },
            };
        });

    /// <summary>
    /// Declares that the 200 answer may also be <paramref name="mediaType"/> text (the root's HTML for a browser), next to
    /// the JSON <c>Produces&lt;T&gt;</c> declared: a second <c>Produces</c> for the same status would replace that JSON.
    /// </summary>
    internal static RouteHandlerBuilder AlsoAnswersText(this RouteHandlerBuilder builder, string mediaType) =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            if (operation.Responses?.TryGetValue("200", out var ok) == true && ok is OpenApiResponse response)
            {
                response.Content ??= new Dictionary<string, OpenApiMediaType>();
                response.Content[mediaType] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String } };
            }

            return Task.CompletedTask;
        });

    /// <summary>Whether a route belongs in the document: the API and the probes, not the dashboard, the console, metrics or the document.</summary>
    public static bool IsDescribed(string route) =>
        !route.StartsWith("/dashboard", StringComparison.OrdinalIgnoreCase)
        && !route.StartsWith("/console", StringComparison.OrdinalIgnoreCase)
        && !route.StartsWith("/metrics", StringComparison.OrdinalIgnoreCase)
        && !route.StartsWith("/openapi", StringComparison.OrdinalIgnoreCase)

        // Envoy's rate-limit service is gRPC on its own port (docs/envoy.md), described by its .proto files.
        && !route.StartsWith("/envoy.", StringComparison.Ordinal);

    /// <summary>Declares problem-details answers (<c>application/problem+json</c>) for <paramref name="statuses"/>.</summary>
    internal static TBuilder Problems<TBuilder>(this TBuilder builder, params int[] statuses)
        where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statuses)
        {
            builder.ProducesProblem(status);
        }

        return builder;
    }
}
