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
    ILogger<StartupReport> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            LogListening(logger, string.Join(", ", addresses), cluster.Value.SiloPort, cluster.Value.GatewayPort, storage.Value.Provider, cluster.Value.ClusterId);
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Quota silo is up: HTTP on {Addresses}; silo port {SiloPort}, gateway port {GatewayPort}; storage {Storage}; cluster {ClusterId}")]
    private static partial void LogListening(ILogger logger, string addresses, int siloPort, int gatewayPort, string storage, string clusterId);

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
