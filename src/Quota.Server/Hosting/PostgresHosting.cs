using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Configuration;
using Orleans.Storage;
using Quota.Grains.Storage;
using Quota.Grains.Subjects;
using Quota.Storage;

namespace Quota.Server.Hosting;

/// <summary>
/// The PostgreSQL mode: Orleans ADO.NET clustering, grain storage and reminders (invariant <c>Npgsql</c>) on the
/// database named by <c>ConnectionStrings:Quota</c>, the schema applied at start, usage history in the database.
/// </summary>
internal static class PostgresHosting
{
    /// <summary>The ADO.NET invariant name Orleans uses for Npgsql.</summary>
    public const string Invariant = "Npgsql";

    /// <summary>The ADO.NET grain storage's own name; grains reach it through <see cref="TypeScopedGrainStorage"/>.</summary>
    public const string DatabaseStorageName = "quota-db";

    /// <summary>The connection string's configuration key.</summary>
    public const string ConnectionStringKey = "ConnectionStrings:Quota";

    /// <summary>The connection string, or null with a problem naming the setting added to <paramref name="problems"/>.</summary>
    public static string? ConnectionString(IConfiguration configuration, List<string> problems)
    {
        var connectionString = configuration.GetConnectionString("Quota");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            problems.Add(
                $"{QuotaStorageOptions.SectionName}:Provider is 'postgres' but {ConnectionStringKey} is empty. Set it (environment: "
                + "ConnectionStrings__Quota) to an Npgsql connection string, e.g. Host=db;Port=5432;Database=quota;Username=quota;Password=….");
            return null;
        }

        try
        {
            _ = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException)
        {
            // Not the parser's message: it can quote part of a value, and values include the password.
            problems.Add(
                $"{ConnectionStringKey} is not a valid Npgsql connection string: write Key=Value pairs separated by ';' "
                + "(Host, Port, Database, Username, Password), and quote a value that contains ';' or '=' in double quotes.");
            return null;
        }

        return connectionString;
    }

    /// <summary>Where the connection string points, without its password: for messages.</summary>
    public static string Describe(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        return $"{builder.Host}:{builder.Port}/{builder.Database} as {builder.Username}";
    }

    /// <summary>Registers the schema migration to run before Orleans starts (it needs the membership table).</summary>
    public static void AddMigrationOnStart(IServiceCollection services, string connectionString) =>
        services.AddHostedService(provider => new SchemaMigrationOnStart(connectionString, provider.GetRequiredService<ILogger<SchemaMigrationOnStart>>()));

    /// <summary>
    /// Configures the silo's clustering, storage and reminders on PostgreSQL. In a <paramref name="pod"/>, the silo
    /// advertises the pod's IP unless <c>Quota:Cluster:AdvertisedAddress</c> is set in <paramref name="configuration"/>,
    /// and its ports listen on every interface (Orleans' Kubernetes hosting) unless <c>Quota:Cluster:ListenAddress</c> is set.
    /// </summary>
    public static void Configure(ISiloBuilder silo, QuotaClusterOptions cluster, string connectionString, PodEnvironment? pod, IConfiguration configuration)
    {
        // Not left to the Kubernetes hosting package: its POD_IP fallback applies only to an address nobody set, and
        // Orleans' own defaults (registered first, with UseOrleans) set the machine's first address before it runs.
        var advertised = pod is not null && configuration[$"{QuotaClusterOptions.SectionName}:{nameof(QuotaClusterOptions.AdvertisedAddress)}"] is not { Length: > 0 }
            ? pod.Address
            : ParseAddress(cluster.AdvertisedAddress, "AdvertisedAddress");
        var listen = cluster.ListenAddress is { Length: > 0 } listenText ? ParseAddress(listenText, "ListenAddress") : pod is null ? advertised : null;
        silo.Configure<ClusterOptions>(options =>
        {
            options.ClusterId = cluster.ClusterId;
            options.ServiceId = cluster.ServiceId;
        });
        silo.Configure<EndpointOptions>(options =>
        {
            options.AdvertisedIPAddress = advertised;
            options.SiloPort = cluster.SiloPort;
            options.GatewayPort = cluster.GatewayPort;

            if (listen is not null)
            {
                options.SiloListeningEndpoint = new IPEndPoint(listen, cluster.SiloPort);
                options.GatewayListeningEndpoint = new IPEndPoint(listen, cluster.GatewayPort);
            }
        });
        silo.UseAdoNetClustering(options =>
        {
            options.Invariant = Invariant;
            options.ConnectionString = connectionString;
        });
        silo.AddAdoNetGrainStorage(DatabaseStorageName, options =>
        {
            options.Invariant = Invariant;
            options.ConnectionString = connectionString;
            options.GrainStorageSerializer = new JsonGrainStateSerializer();
        });

        // Grains use the "quota" storage: the database one, with rows scoped to the grain type and key.
        silo.Services.AddKeyedSingleton<IGrainStorage>(QuotaStorage.Name, (provider, _) =>
            new TypeScopedGrainStorage(provider.GetRequiredKeyedService<IGrainStorage>(DatabaseStorageName)));
        silo.UseAdoNetReminderService(options =>
        {
            options.Invariant = Invariant;
            options.ConnectionString = connectionString;
        });
        silo.Services.AddSingleton(_ => NpgsqlDataSource.Create(connectionString));
        silo.Services.AddSingleton<IUsageHistoryStore, PostgresUsageHistoryStore>();
        silo.Services.AddSingleton<Quota.Grains.Queues.IQueueItemStore, Quota.Grains.Queues.PostgresQueueItemStore>();
    }

    private static IPAddress ParseAddress(string text, string setting) =>
        IPAddress.TryParse(text, out var address)
            ? address
            : throw new InvalidOperationException(
                $"{QuotaClusterOptions.SectionName}:{setting} is '{text}', which is not an IP address; use the address other silos reach this one at (e.g. 10.0.0.5), or 0.0.0.0 to listen on every interface.");
}

/// <summary>Applies the schema's pending migrations before the silo joins its cluster.</summary>
internal sealed partial class SchemaMigrationOnStart(string connectionString, ILogger<SchemaMigrationOnStart> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        MigrationReport report;
        try
        {
            report = await SchemaMigrator.MigrateAsync(connectionString, cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or SchemaMismatchException or TimeoutException)
        {
            throw new InvalidOperationException(
                $"Could not apply Quota's schema to {PostgresHosting.Describe(connectionString)}: {e.Message} "
                + $"Check that the database is reachable and the user may create tables, or set {QuotaStorageOptions.SectionName}:MigrateOnStart=false and run `quota db migrate`.", e);
        }

        LogMigrated(logger, PostgresHosting.Describe(connectionString), report.Applied.Count, report.AlreadyApplied.Count);
        if (report.Unknown.Count > 0)
        {
            LogNewerSchema(logger, string.Join(", ", report.Unknown));
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Schema on {Database}: {Applied} migrations applied now, {Already} already present")]
    private static partial void LogMigrated(ILogger logger, string database, int applied, int already);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The database has schema versions this build does not know ({Versions}): a newer Quota migrated it")]
    private static partial void LogNewerSchema(ILogger logger, string versions);
}
