using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Quota.Client;
using Quota.Grains;
using OpenTelemetry.Metrics;
using Orleans.Dashboard;
using Quota.Grains.Configuration;
using Quota.Grains.Storage;
using Quota.Grains.Subjects;
using Quota.Server.Admin;
using Quota.Server.Http;

namespace Quota.Server.Hosting;

/// <summary>Builds a Quota silo: Orleans with the chosen infrastructure, Quota's grains, and the HTTP front door.</summary>
public static class QuotaSiloHostingExtensions
{
    /// <summary>Where HTTP listens when nothing is configured.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    /// <summary>
    /// Makes <paramref name="builder"/> a Quota silo. With no configuration: localhost clustering, in-memory
    /// storage and reminders, HTTP on <see cref="DefaultUrl"/>. With <c>Quota:Storage:Provider=postgres</c>:
    /// clustering, grain state, reminders and usage history in PostgreSQL (<c>ConnectionStrings:Quota</c>).
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// The configuration names an unknown storage provider, or the PostgreSQL mode lacks its connection string.
    /// </exception>
    public static WebApplicationBuilder AddQuotaSilo(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        if (string.IsNullOrEmpty(configuration["urls"]) && string.IsNullOrEmpty(configuration["http_ports"]) && !configuration.GetSection("Kestrel:Endpoints").Exists())
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        var cluster = configuration.GetSection(QuotaClusterOptions.SectionName).Get<QuotaClusterOptions>() ?? new QuotaClusterOptions();
        var storage = configuration.GetSection(QuotaStorageOptions.SectionName).Get<QuotaStorageOptions>() ?? new QuotaStorageOptions();
        var postgres = string.Equals(storage.Provider, "postgres", StringComparison.OrdinalIgnoreCase);
        if (!postgres && !string.Equals(storage.Provider, "memory", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException(
                $"{QuotaStorageOptions.SectionName}:Provider is '{storage.Provider}'; use 'memory' (the default: nothing to install) or 'postgres' (with {PostgresHosting.ConnectionStringKey}).");
        }

        var connectionString = postgres ? PostgresHosting.ConnectionString(configuration) : null;
        var secrets = configuration.GetSection(SecretOptions.SectionName).Get<SecretOptions>() ?? new SecretOptions();
        if (SecretRequirements.Missing(secrets, durable: postgres) is { Count: > 0 } missing)
        {
            throw new InvalidOperationException(
                $"The silo will not start in the PostgreSQL mode without its secrets:{Environment.NewLine}- {string.Join($"{Environment.NewLine}- ", missing)}");
        }

        if (!postgres && secrets.MasterKeys.Count == 0)
        {
            // Memory storage keeps nothing at rest, so the built-in development key costs nothing here, and upstream
            // tokens can be given secrets in the embedded default. The PostgreSQL mode requires real master keys.
            builder.Services.AddSingleton(SecretProtector.ForDevelopment());
        }

        if (postgres && storage.MigrateOnStart)
        {
            // Registered before Orleans: hosted services start in order, and clustering needs the schema.
            PostgresHosting.AddMigrationOnStart(builder.Services, connectionString!);
        }

        // Before Orleans: hosted services stop in reverse order, so the usage history's last batch is written after
        // the silo has drained.
        builder.Services.AddHostedService(provider => provider.GetRequiredService<UsageHistoryWriter>());

        builder.UseOrleans(silo =>
        {
            if (postgres)
            {
                PostgresHosting.Configure(silo, cluster, connectionString!);
            }
            else
            {
                silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, null, cluster.ServiceId, cluster.ClusterId);
                silo.AddMemoryGrainStorage(QuotaStorage.Name);
                silo.UseInMemoryReminderService();
            }

            silo.AddDashboard();
            silo.AddQuotaGrains();
        });

        builder.Services.Configure<QuotaClusterOptions>(configuration.GetSection(QuotaClusterOptions.SectionName));
        builder.Services.Configure<QuotaStorageOptions>(configuration.GetSection(QuotaStorageOptions.SectionName));
        builder.Services.AddQuotaHttp(configuration);
        return builder;
    }

    /// <summary>Adds the HTTP front door's services (the silo's own <see cref="IQuotaClient"/>, options, the start-up report).</summary>
    public static IServiceCollection AddQuotaHttp(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<QuotaHttpOptions>().Bind(configuration.GetSection(QuotaHttpOptions.SectionName));
        services.AddSingleton<IQuotaClient>(provider => new QuotaClient(provider.GetRequiredService<IGrainFactory>()));
        services.AddProblemDetails();
        services.AddOptions<AdminOptions>().Bind(configuration.GetSection(AdminOptions.SectionName));
        services.AddSingleton<AdminService>();
        services.AddSingleton<ApplyPlanner>();
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(QuotaInstruments.MeterName, "Microsoft.Orleans")
            .AddPrometheusExporter());
        services.AddHostedService<StartupReport>();
        services.AddSingleton(provider => new RequestGate(provider.GetRequiredService<IOptions<LimitsOptions>>().Value.MaxRequestsInFlight, provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddHostedService<GracefulStop>();
        return services;
    }
}
