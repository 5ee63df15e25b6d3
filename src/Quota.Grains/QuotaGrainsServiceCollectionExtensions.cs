using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Quota.Grains.Configuration;
using Quota.Grains.Scheduling;
using Quota.Grains.Storage;
using Quota.Grains.Subjects;
using Quota.Grains.Tenancy;
using Quota.Grains.Upstreams;

namespace Quota.Grains;

/// <summary>
/// Registers what Quota's grains need in a silo: options (validated at start), the policy catalog, the key hasher,
/// the secret protector, the clock.
/// </summary>
public static class QuotaGrainsServiceCollectionExtensions
{
    /// <summary>Adds Quota's grain services, bound to <paramref name="configuration"/>.</summary>
    public static IServiceCollection AddQuotaGrains(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<PolicyOptions>()
            .Bind(configuration.GetSection(PolicyOptions.SectionName))
            .PostConfigure(options => options.File ??= configuration[PolicyOptions.FileKey])
            .ValidateOnStart();
        services.AddOptions<DecisionOptions>().Bind(configuration.GetSection(DecisionOptions.SectionName)).ValidateOnStart();
        services.AddOptions<SecretOptions>().Bind(configuration.GetSection(SecretOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PolicyOptions>, PolicyOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DecisionOptions>, DecisionOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SecretOptions>, SecretOptionsValidator>());
        services.AddOptions<TenancyOptions>().Bind(configuration.GetSection(TenancyOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TenancyOptions>, TenancyOptionsValidator>());
        services.AddOptions<SchedulerOptions>().Bind(configuration.GetSection(SchedulerOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SchedulerOptions>, SchedulerOptionsValidator>());
        services.AddOptions<LimitsOptions>().Bind(configuration.GetSection(LimitsOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LimitsOptions>, LimitsOptionsValidator>());
        services.TryAddSingleton<TokenChooser>();
        services.TryAddSingleton<Rls.DescriptorPolicyBook>();
        services.TryAddSingleton(QuotaTime.System);
        services.TryAddSingleton<ApiKeyHasher>();

        // Built from Quota:Secrets:MasterKeys even when that is empty (the embedded default): it constructs and throws
        // only when asked for a secret. A host that wants the development key registers ForDevelopment() first.
        services.TryAddSingleton<SecretProtector>();
        services.AddMetrics();
        services.AddOptions<TelemetryOptions>().Bind(configuration.GetSection(TelemetryOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TelemetryOptions>, TelemetryOptionsValidator>());
        services.TryAddSingleton<QuotaInstruments>();
        services.AddOptions<DurabilityOptions>().Bind(configuration.GetSection(DurabilityOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DurabilityOptions>, DurabilityOptionsValidator>());
        services.TryAddSingleton<StorageHealth>();
        services.TryAddSingleton<UsageRecorder>();
        services.TryAddSingleton<IUsageHistoryStore, MemoryUsageHistoryStore>();
        services.TryAddSingleton<Queues.IQueueItemStore, Queues.MemoryQueueItemStore>();
        services.TryAddSingleton<UsageHistoryWriter>();
        services.TryAddSingleton<ActiveSubjects>();
        services.TryAddSingleton<RecentDenials>();
        services.TryAddSingleton<SiloStopping>();
        services.TryAddSingleton<SubjectServices>();
        services.TryAddSingleton(provider =>
        {
            var options = provider.GetRequiredService<IOptions<PolicyOptions>>().Value;
            return PolicyCatalog.TryBuild(options, out var errors)
                ?? throw new OptionsValidationException(PolicyOptions.SectionName, typeof(PolicyOptions), errors);
        });
        return services;
    }

    /// <summary>Adds Quota's grains to a silo.</summary>
    public static ISiloBuilder AddQuotaGrains(this ISiloBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddQuotaGrains(builder.Configuration);
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, SchedulerStarter>();
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, Queues.QueueKeeper>();
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(provider => provider.GetRequiredService<SiloStopping>());

        // Each silo answers the console's cluster overview with its own numbers (Diagnostics/ClusterNumbers).
        builder.AddGrainService<Diagnostics.SiloNumbersService>();
        builder.Services.TryAddSingleton<Diagnostics.DecisionRates>();
        builder.Services.TryAddSingleton<Diagnostics.ClusterNumbers>();

        // A cancelled call must still receive what the callee did: a waiter granted just as its caller gives up
        // hands the grant back to a coordinator that refunds it, instead of the answer being dropped unseen.
        builder.Configure<Orleans.Configuration.SiloMessagingOptions>(options => options.WaitForCancellationAcknowledgement = true);
        return builder;
    }
}
