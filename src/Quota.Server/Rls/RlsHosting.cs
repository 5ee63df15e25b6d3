using Microsoft.AspNetCore.Builder;
using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Quota.Server.Rls;

/// <summary>Wires Envoy's rate-limit service into the silo: its services, its own Kestrel endpoint, its branch of the pipeline.</summary>
public static class RlsHosting
{
    /// <summary>
    /// Adds the rate-limit service and, when <c>Quota:Rls:Url</c> is not empty, an HTTP/2 Kestrel endpoint there
    /// (plaintext, or TLS with <c>Quota:Rls:CertificatePath</c> for an <c>https://</c> address). Kestrel binds only its configured endpoints once any is configured (it ignores <c>urls</c> then), so the
    /// HTTP API's addresses from <c>urls</c> (or <c>http_ports</c>) are written as endpoints beside it, unless
    /// <c>Kestrel:Endpoints</c> is configured already (then Kestrel was ignoring <c>urls</c> anyway). Kestrel logs once at
    /// start that it overrides <c>urls</c> with them ("Overriding address(es)"): the same addresses, now as endpoints.
    /// </summary>
    /// <param name="builder">The silo's builder.</param>
    /// <param name="defaultHttpUrl">Where the HTTP API listens when nothing says.</param>
    public static WebApplicationBuilder AddQuotaRls(this WebApplicationBuilder builder, string defaultHttpUrl)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        builder.Services.AddOptions<RlsOptions>().Bind(configuration.GetSection(RlsOptions.SectionName)).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RlsOptions>, RlsOptionsValidator>());
        // No catch-all endpoints for unknown services: host-restricted to the rate-limit port they would still be routing
        // candidates on the HTTP port, where they turn a wrong method's 405 (GET /v1/acquire) into a 404. An unknown
        // method on the rate-limit port is answered 404 by its branch below (a gRPC client reads it as UNIMPLEMENTED).
        builder.Services.AddGrpc(grpc => grpc.IgnoreUnknownServices = true);
        builder.Services.TryAddSingleton<DomainCatalog>();
        builder.Services.TryAddSingleton<RlsInstruments>();
        builder.Services.TryAddSingleton<DomainAdmin>();

        // Read leniently here: an invalid value is refused with every other problem once the host is built
        // (RlsOptionsValidator), before anything listens.
        var rls = new RlsOptions();
        configuration.GetSection(RlsOptions.SectionName).Bind(rls);
        if (string.IsNullOrWhiteSpace(rls.Url) || !new RlsOptionsValidator().Validate(null, rls).Succeeded)
        {
            return builder;
        }

        var endpoints = new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:QuotaRls:Url"] = rls.Url,
            ["Kestrel:Endpoints:QuotaRls:Protocols"] = "Http2",
        };
        if (rls.Endpoint!.Scheme == Uri.UriSchemeHttps)
        {
            // Kestrel's own certificate loading (PEM with a key file, or PKCS #12), on this endpoint only.
            endpoints["Kestrel:Endpoints:QuotaRls:Certificate:Path"] = rls.CertificatePath;
            endpoints["Kestrel:Endpoints:QuotaRls:Certificate:KeyPath"] = rls.CertificateKeyPath;
            endpoints["Kestrel:Endpoints:QuotaRls:Certificate:Password"] = rls.CertificatePassword;
        }

        if (!configuration.GetSection("Kestrel:Endpoints").Exists())
        {
            var urls = configuration["urls"];
            var http = !string.IsNullOrEmpty(urls) ? urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                : configuration["http_ports"] is { Length: > 0 } ports ? [.. ports.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"http://*:{p}")]
                : [defaultHttpUrl];
            for (var i = 0; i < http.Length; i++)
            {
                endpoints[$"Kestrel:Endpoints:QuotaHttp{i}:Url"] = http[i];
            }
        }

        configuration.AddInMemoryCollection(endpoints);
        return builder;
    }

    /// <summary>
    /// Sends requests that arrive on the rate-limit endpoint to the gRPC service alone, ahead of the HTTP API's
    /// middleware (its request gate, cross-site guard and admin gate are for HTTP callers); nothing else is served there.
    /// </summary>
    public static WebApplication UseQuotaRls(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (app.Services.GetRequiredService<IOptions<RlsOptions>>().Value.Endpoint is not { } endpoint)
        {
            return app;
        }

        // The service answers only on its own port (the HTTP API's port speaks HTTP/1.1 too, where gRPC cannot run).
        var port = endpoint.Port;
        app.MapGrpcService<RlsService>().RequireHost($"*:{port}");

        // A branch of a WebApplication routes over the application's endpoints, so the HTTP API's would match here too:
        // on this port only the gRPC service is answered, the rest is 404.
        app.MapWhen(context => context.Connection.LocalPort == port, branch =>
        {
            branch.UseRouting();
            branch.Use((context, next) =>
            {
                if (context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>() is null)
                {
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return Task.CompletedTask;
                }

                return next(context);
            });
            branch.UseEndpoints(_ => { });
        });
        return app;
    }
}
