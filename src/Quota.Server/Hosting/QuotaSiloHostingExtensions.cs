using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Quota.Client;
using Quota.Grains;
using Orleans.Dashboard;
using Quota.Grains.Configuration;
using Quota.Grains.Storage;
using Quota.Grains.Subjects;
using Quota.Server.Admin;
using Quota.Server.Http;
using Quota.Server.Rls;

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
    /// <remarks>
    /// A configuration problem (an unknown storage provider, the PostgreSQL mode without its connection string or
    /// secrets, any invalid option) does not throw here: the host refuses to start, listing every problem
    /// (<see cref="QuotaSilo.RunAsync"/> prints them without a stack trace).
    /// </remarks>
    public static WebApplicationBuilder AddQuotaSilo(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        if (string.IsNullOrEmpty(configuration["urls"]) && string.IsNullOrEmpty(configuration["http_ports"]) && !configuration.GetSection("Kestrel:Endpoints").Exists())
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        // Nothing here throws for configuration: each problem is kept for QuotaStorageOptionsValidator, so it is listed
        // at start with every other one (QuotaSilo.RunAsync), and the mode it concerns is wired as the embedded default
        // meanwhile, which never starts (start-up validation refuses first).
        var wiring = new List<string>();
        var cluster = Read<QuotaClusterOptions>(configuration, QuotaClusterOptions.SectionName);
        var storage = Read<QuotaStorageOptions>(configuration, QuotaStorageOptions.SectionName);
        var membershipSettings = Read<QuotaMembershipOptions>(configuration, QuotaMembershipOptions.SectionName);
        if (!new QuotaMembershipOptionsValidator().Validate(null, membershipSettings).Succeeded)
        {
            // Start-up validation refuses these; meanwhile Orleans' own validator must not see them first.
            membershipSettings = new QuotaMembershipOptions();
        }
        var postgres = string.Equals(storage.Provider, "postgres", StringComparison.OrdinalIgnoreCase);
        if (!postgres && !string.Equals(storage.Provider, "memory", StringComparison.OrdinalIgnoreCase))
        {
            wiring.Add($"{QuotaStorageOptions.SectionName}:Provider is '{storage.Provider}'; use 'memory' (the default: nothing to install) or 'postgres' (with {PostgresHosting.ConnectionStringKey}).");
        }

        var connectionString = postgres ? PostgresHosting.ConnectionString(configuration, wiring) : null;
        var secrets = Read<SecretOptions>(configuration, SecretOptions.SectionName);
        if (SecretRequirements.Missing(secrets, durable: postgres) is { Count: > 0 } missing)
        {
            wiring.AddRange(missing);
        }

        // In a pod (the downward API's POD_NAME, POD_NAMESPACE, POD_IP), a PostgreSQL silo is named after the pod and
        // advertises its IP, with Orleans' Kubernetes hosting (KubernetesHosting). The embedded default has nothing to use
        // them for: its clustering is loopback, one silo per pod (StartupReport warns).
        var pod = PodEnvironment.Read(Environment.GetEnvironmentVariable, wiring);
        builder.Services.AddSingleton<IValidateOptions<QuotaStorageOptions>>(new QuotaStorageOptionsValidator(wiring));
        postgres = postgres && wiring.Count == 0 && new QuotaClusterOptionsValidator().Validate(null, cluster).Succeeded;
        var placement = new SiloPlacement(postgres, postgres ? pod : null, pod is not null && !postgres);
        builder.Services.AddSingleton(placement);

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
                if (placement.Pod is not null)
                {
                    KubernetesHosting.Configure(silo);
                }

                PostgresHosting.Configure(silo, cluster, connectionString!, placement.Pod, configuration);
            }
            else
            {
                silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, null, cluster.ServiceId, cluster.ClusterId);
                silo.AddMemoryGrainStorage(QuotaStorage.Name);
                silo.UseInMemoryReminderService();
            }

            // Probe settings from Quota:Cluster:Membership (validated at start; unreadable values leave Orleans' own).
            silo.Configure<ClusterMembershipOptions>(membership =>
            {
                membership.ProbeTimeout = membershipSettings.ProbeTimeout;
                membership.NumMissedProbesLimit = membershipSettings.NumMissedProbesLimit;
                membership.NumProbedSilos = membershipSettings.NumProbedSilos;
                membership.NumVotesForDeathDeclaration = membershipSettings.NumVotesForDeathDeclaration;
            });
            silo.AddDashboard();

            // Grain calls carry the caller's trace (an HTTP request's) and appear as spans when traces are collected;
            // only then, since the propagation filters cost every grain call.
            if (QuotaTelemetry.TracingConfigured(configuration))
            {
                silo.AddActivityPropagation();
            }
            silo.AddQuotaGrains();
        });

        builder.Services.AddOptions<QuotaClusterOptions>().Bind(configuration.GetSection(QuotaClusterOptions.SectionName)).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<QuotaClusterOptions>, QuotaClusterOptionsValidator>());
        builder.Services.AddOptions<QuotaMembershipOptions>().Bind(configuration.GetSection(QuotaMembershipOptions.SectionName)).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<QuotaMembershipOptions>, QuotaMembershipOptionsValidator>());
        builder.Services.AddOptions<QuotaStorageOptions>().Bind(configuration.GetSection(QuotaStorageOptions.SectionName)).ValidateOnStart();
        builder.Services.AddQuotaHttp(configuration);
        builder.AddQuotaRls(DefaultUrl);

        // A PostgreSQL silo is a deployment, often behind a proxy where every caller is loopback: no admin by loopback
        // unless asked for (docs/operations.md, "Who may administer").
        builder.Services.PostConfigure<AdminOptions>(admin => admin.AllowLoopback ??= !postgres);
        return builder;
    }

    /// <summary>The section as <typeparamref name="T"/>; its defaults when a value cannot be read (ConfigurationCheck names it).</summary>
    private static T Read<T>(IConfiguration configuration, string section)
        where T : new()
    {
        try
        {
            return configuration.GetSection(section).Get<T>() ?? new T();
        }
        catch (InvalidOperationException)
        {
            return new T();
        }
    }

    /// <summary>Adds the HTTP front door's services (the silo's own <see cref="IQuotaClient"/>, options, the start-up report).</summary>
    public static IServiceCollection AddQuotaHttp(this IServiceCollection services, IConfiguration configuration)
    {
        // AddQuotaSilo registers the real one first; a front door hosted on its own is no pod-mode silo.
        services.TryAddSingleton(new SiloPlacement(Postgres: false, Pod: null, PodIgnored: false));
        services.AddOptions<QuotaHttpOptions>().Bind(configuration.GetSection(QuotaHttpOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<QuotaHttpOptions>, QuotaHttpOptionsValidator>());
        services.AddSingleton<IQuotaClient>(provider => new QuotaClient(provider.GetRequiredService<IGrainFactory>()));
        services.AddProblemDetails();
        services.AddQuotaOpenApi();
        services.AddOptions<AdminOptions>().Bind(configuration.GetSection(AdminOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AdminOptions>, AdminOptionsValidator>());
        services.AddSingleton<AdminThrottle>();
        services.AddSingleton<AdminAccess>();
        services.AddSingleton<DashboardSessions>();
        services.AddSingleton<AdminService>();
        services.AddSingleton<ApplyPlanner>();
        services.AddQuotaTelemetry(configuration);
        services.AddHostedService<StartupReport>();
        // The queue-delay probe runs only when the gate sheds by it; one no-op work item every 10 ms.
        services.AddSingleton(provider => new QueueDelay(
            provider.GetRequiredService<IOptions<LimitsOptions>>().Value.MaxQueueDelay > TimeSpan.Zero ? TimeSpan.FromMilliseconds(10) : TimeSpan.Zero));
        services.AddSingleton(provider =>
        {
            var limits = provider.GetRequiredService<IOptions<LimitsOptions>>().Value;
            var delay = provider.GetRequiredService<QueueDelay>();
            return new RequestGate(limits.MaxRequestsInFlight, provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), () => delay.Current, limits.MaxQueueDelay);
        });
        services.AddHostedService<GracefulStop>();
        return services;
    }
}
