using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Quota.Grains.Subjects;

namespace Quota.Server.Hosting;

/// <summary>Says where the silo listens once it is up, and warns about development-only settings.</summary>
internal sealed partial class StartupReport(
    IServer server,
    IHostApplicationLifetime lifetime,
    IOptions<QuotaClusterOptions> cluster,
    IOptions<QuotaStorageOptions> storage,
    ApiKeyHasher hasher,
    IOptions<Admin.AdminOptions> admin,
    Quota.Grains.Storage.SecretProtector secrets,
    SiloPlacement placement,
    IOptions<Orleans.Configuration.SiloOptions> silo,
    IOptions<Orleans.Configuration.EndpointOptions> endpoints,
    IOptions<Rls.RlsOptions> rls,
    ILogger<StartupReport> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            // The rate-limit service's endpoint is reported on its own line: it is gRPC, not the HTTP API.
            var rlsPort = rls.Value.Endpoint?.Port;
            var addresses = (server.Features.Get<IServerAddressesFeature>()?.Addresses ?? []).Where(a => rlsPort is null || !Uri.TryCreate(a, UriKind.Absolute, out var u) || u.Port != rlsPort);
            if (rls.Value.Endpoint is { } rlsEndpoint)
            {
                LogRls(logger, rlsEndpoint.ToString().TrimEnd('/'), rls.Value.ShadowMode);
            }

            LogListening(logger, string.Join(", ", addresses), cluster.Value.SiloPort, cluster.Value.GatewayPort, storage.Value.Provider, cluster.Value.ClusterId);
            ReportPlacement();
            switch (admin.Value.Rule)
            {
                case Admin.AdminRule.Token:
                    LogAdminToken(logger, admin.Value.MaxFailures, admin.Value.FailureWindow);
                    break;
                case Admin.AdminRule.Loopback:
                    LogAdminLoopback(logger);
                    break;
                default:
                    LogAdminNobody(logger);
                    break;
            }

            if (hasher.UsesDevelopmentPepper)
            {
                LogDevelopmentPepper(logger);
            }

            if (secrets.UsesDevelopmentKey)
            {
                LogDevelopmentMasterKey(logger);
            }
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void ReportPlacement()
    {
        if (placement.Pod is { } pod)
        {
            LogPodMode(logger, silo.Value.SiloName, pod.Namespace, endpoints.Value.AdvertisedIPAddress?.ToString() ?? "(none)", endpoints.Value.SiloListeningEndpoint?.Address.ToString() ?? "(none)");
        }
        else if (placement.PodIgnored)
        {
            LogPodIgnored(logger, PodEnvironment.NameVariable);
        }
        else if (placement.Postgres && SiloPlacement.AdvertisesLoopbackToEveryInterface(cluster.Value))
        {
            LogLoopbackAdvertised(logger, cluster.Value.AdvertisedAddress, cluster.Value.ListenAddress!);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Envoy's rate-limit service (gRPC, plaintext HTTP/2) on {Url}; global shadow mode {ShadowMode}")]
    private static partial void LogRls(ILogger logger, string url, bool shadowMode);

    [LoggerMessage(Level = LogLevel.Information, Message = "Quota silo is up: HTTP on {Addresses}; silo port {SiloPort}, gateway port {GatewayPort}; storage {Storage}; cluster {ClusterId}")]
    private static partial void LogListening(ILogger logger, string addresses, int siloPort, int gatewayPort, string storage, string clusterId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pod mode: silo {SiloName} in namespace {Namespace} advertises {Advertised}, silo and gateway ports listen on {Listen}; Orleans' Kubernetes hosting is on")]
    private static partial void LogPodMode(ILogger logger, string siloName, string @namespace, string advertised, string listen);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Variable} is set but the storage is memory: the embedded default's clustering is loopback, so every pod is a cluster of its own and its limits are its own. Set Quota:Storage:Provider=postgres and ConnectionStrings:Quota to run one cluster of pods")]
    private static partial void LogPodIgnored(ILogger logger, string variable);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Quota:Cluster:AdvertisedAddress is {Advertised} (loopback) while the silo and gateway ports listen on {Listen}: silos and clients on other machines are told to dial themselves and never reach this silo. Set Quota:Cluster:AdvertisedAddress to this machine's address (in a container, its own)")]
    private static partial void LogLoopbackAdvertised(ILogger logger, string advertised, string listen);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Admin rule: loopback. Quota:Admin:Token is not set, so callers on this machine (loopback, addressing it as localhost or a loopback address) may use /v1/admin and /dashboard. Behind a reverse proxy or sidecar on this machine every caller is loopback: set a token, or Quota:Admin:AllowLoopback=false.")]
    private static partial void LogAdminLoopback(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Admin rule: nobody. Quota:Admin:Token is not set and Quota:Admin:AllowLoopback is false, so nobody may use /v1/admin or /dashboard. Set a token to administer.")]
    private static partial void LogAdminNobody(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Admin rule: token. /v1/admin and /dashboard require the bearer token from Quota:Admin:Token, from any address; {MaxFailures} failures within {Window} lock a source out.")]
    private static partial void LogAdminToken(ILogger logger, int maxFailures, TimeSpan window);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Quota:Secrets:Pepper is not set: API keys are hashed with the built-in development pepper. Set a random pepper of at least 16 characters before registering real keys.")]
    private static partial void LogDevelopmentPepper(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Quota:Secrets:MasterKeys is not set: upstream token secrets are encrypted with the built-in development key, which is in Quota's source (as good as plaintext; memory storage keeps them only while the silo runs). Set a master key before storing real secrets.")]
    private static partial void LogDevelopmentMasterKey(ILogger logger);
}
