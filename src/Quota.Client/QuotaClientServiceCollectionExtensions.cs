using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;

namespace Quota.Client;

/// <summary>Adds the Quota client to an application.</summary>
public static class QuotaClientServiceCollectionExtensions
{
    /// <summary>
    /// Adds an Orleans client connected to the Quota cluster and <see cref="IQuotaClient"/> on top of it, with options
    /// read from the application's configuration (<see cref="QuotaClientOptions.SectionName"/>: command line,
    /// environment variables such as <c>Quota__Client__Gateways__0</c>, appsettings), then
    /// <paramref name="configure"/>, then checked: every problem is reported at once. The options in force are
    /// available as <c>IOptions&lt;QuotaClientOptions&gt;</c>.
    /// </summary>
    /// <exception cref="ArgumentException">An option is invalid (the message names each one and how to fix it).</exception>
    public static IHostApplicationBuilder AddQuotaClient(this IHostApplicationBuilder builder, Action<QuotaClientOptions>? configure = null)
    {
        builder.Services.AddQuotaClient(builder.Configuration, configure);
        return builder;
    }

    /// <summary>
    /// Adds the Quota client with options set in code only (defaults: the embedded silo's gateway, cluster and service
    /// <c>quota</c>). See <see cref="AddQuotaClient(IHostApplicationBuilder, Action{QuotaClientOptions}?)"/> to read
    /// them from configuration.
    /// </summary>
    /// <exception cref="ArgumentException">An option is invalid (the message names each one and how to fix it).</exception>
    public static IServiceCollection AddQuotaClient(this IServiceCollection services, Action<QuotaClientOptions>? configure = null) =>
        services.AddQuotaClient(null, configure);

    /// <summary>
    /// Adds the Quota client with options read from <paramref name="configuration"/>'s
    /// <see cref="QuotaClientOptions.SectionName"/> section (when given), then <paramref name="configure"/>.
    /// </summary>
    /// <exception cref="ArgumentException">An option is invalid (the message names each one and how to fix it).</exception>
    public static IServiceCollection AddQuotaClient(this IServiceCollection services, IConfiguration? configuration, Action<QuotaClientOptions>? configure = null)
    {
        var problems = new List<string>();
        var options = Bind(configuration, problems);
        configure?.Invoke(options);
        var gateways = Validate(options, problems);
        services.AddOrleansClient(client =>
        {
            if (options.Clustering == QuotaClientClustering.Postgres)
            {
                client.UseAdoNetClustering(adoNet =>
                {
                    adoNet.Invariant = PostgresInvariant;
                    adoNet.ConnectionString = options.ConnectionString;
                });
                client.Configure<GatewayOptions>(gateway => gateway.GatewayListRefreshPeriod = options.GatewayListRefreshPeriod);
            }
            else
            {
                client.UseStaticClustering(gateways);
            }

            client.Configure<ClusterOptions>(cluster =>
            {
                cluster.ClusterId = options.ClusterId;
                cluster.ServiceId = options.ServiceId;
            });
            client.Configure<ClientMessagingOptions>(messaging =>
            {
                messaging.ResponseTimeout = options.ResponseTimeout;

                // See the silo side: a cancelled wait still learns whether it was granted.
                messaging.WaitForCancellationAcknowledgement = true;
            });
        });
        services.TryAddSingleton(Options.Create(options));
        services.TryAddSingleton<IQuotaClient>(provider => new QuotaClient(provider.GetRequiredService<IClusterClient>(), options.BatchAbove, options.AnswerTimeout));
        return services;
    }

    /// <summary>The ADO.NET invariant Orleans' clustering uses for Npgsql (as the silos).</summary>
    private const string PostgresInvariant = "Npgsql";

    /// <summary>
    /// The options from <paramref name="configuration"/>'s <c>Quota:Client</c> section, with <c>ConnectionStrings:Quota</c>
    /// as the connection string unless the section names one. An unknown <c>Clustering</c> is a problem, not an exception,
    /// so it is reported with every other one.
    /// </summary>
    private static QuotaClientOptions Bind(IConfiguration? configuration, List<string> problems)
    {
        var options = new QuotaClientOptions();
        if (configuration is null)
        {
            return options;
        }

        IConfiguration section = configuration.GetSection(QuotaClientOptions.SectionName);
        if (section[nameof(QuotaClientOptions.Clustering)] is { } clustering
            && !(Enum.TryParse<QuotaClientClustering>(clustering, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) && !char.IsAsciiDigit(clustering.TrimStart()[0])))
        {
            problems.Add($"Clustering '{clustering}' is unknown: use static (Gateways) or postgres (ConnectionStrings:Quota, as the silos).");

            // Bind everything else: the section with the bad value replaced by the default.
            section = new ConfigurationBuilder()
                .AddConfiguration(section)
                .AddInMemoryCollection([KeyValuePair.Create(nameof(QuotaClientOptions.Clustering), (string?)nameof(QuotaClientClustering.Static))])
                .Build();
        }

        section.Bind(options);
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            options.ConnectionString = configuration.GetConnectionString("Quota");
        }

        return options;
    }

    /// <summary>Checks the options, reporting every problem at once (with those found while binding); answers the static gateways' endpoints.</summary>
    private static IPEndPoint[] Validate(QuotaClientOptions options, List<string> problems)
    {
        var gateways = options.Clustering == QuotaClientClustering.Static ? ResolveGateways(options, problems) : [];
        if (!Enum.IsDefined(options.Clustering))
        {
            problems.Add($"Clustering {(int)options.Clustering} is unknown: use static (Gateways) or postgres (ConnectionStrings:Quota, as the silos).");
        }

        if (options.Clustering == QuotaClientClustering.Postgres)
        {
            ValidatePostgres(options, problems);
        }

        if (options.BatchAbove < 0)
        {
            problems.Add($"BatchAbove must be 0 or more decisions in flight, or null for no batching (got {options.BatchAbove}).");
        }

        if (options.ResponseTimeout <= TimeSpan.Zero)
        {
            problems.Add($"ResponseTimeout must be positive, e.g. 00:00:30 (got {options.ResponseTimeout}).");
        }

        if (options.AnswerTimeout <= TimeSpan.Zero || options.AnswerTimeout > options.ResponseTimeout)
        {
            problems.Add($"AnswerTimeout must be positive and at most ResponseTimeout ({options.ResponseTimeout}), e.g. 00:00:05 (got {options.AnswerTimeout}).");
        }

        foreach (var (name, value) in new[] { ("ClusterId", options.ClusterId), ("ServiceId", options.ServiceId) })
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                problems.Add($"{name} must name the cluster as the silos' Quota:Cluster:{name} does (default: quota).");
            }
        }

        return problems.Count == 0
            ? gateways
            : throw new ArgumentException(
                $"The Quota client's options ({QuotaClientOptions.SectionName}) are invalid: " + string.Join(" ", problems), "configure");
    }

    private static void ValidatePostgres(QuotaClientOptions options, List<string> problems)
    {
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            problems.Add(
                "Clustering is postgres but no connection string is set: set ConnectionStrings:Quota (environment: ConnectionStrings__Quota) "
                + "to the silos' Npgsql connection string, e.g. Host=db;Port=5432;Database=quota;Username=quota;Password=….");
        }
        else
        {
            try
            {
                _ = new NpgsqlConnectionStringBuilder(options.ConnectionString);
            }
            catch (ArgumentException)
            {
                // Not the parser's message: it can quote part of a value, and values include the password.
                problems.Add(
                    "The connection string (ConnectionStrings:Quota) is not a valid Npgsql connection string: write Key=Value pairs separated by ';' "
                    + "(Host, Port, Database, Username, Password), and quote a value that contains ';' or '=' in double quotes.");
            }
        }

        if (options.GatewayListRefreshPeriod < TimeSpan.FromSeconds(1) || options.GatewayListRefreshPeriod > TimeSpan.FromHours(1))
        {
            problems.Add($"GatewayListRefreshPeriod must be from 00:00:01 to 01:00:00 (got {options.GatewayListRefreshPeriod}); the default is 00:00:10.");
        }

        if (options.Gateways.Count > 0)
        {
            problems.Add("Gateways are listed but Clustering is postgres, which finds them in the membership table: remove Gateways, or set Clustering to static.");
        }
    }

    /// <summary>Every gateway's endpoints (all the addresses a host name resolves to), or problems naming the bad ones.</summary>
    private static IPEndPoint[] ResolveGateways(QuotaClientOptions options, List<string> problems)
    {
        var endpoints = new List<IPEndPoint>();
        var configured = options.Gateways.Count > 0 ? options.Gateways : [QuotaClientOptions.DefaultGateway];
        for (var i = 0; i < configured.Count; i++)
        {
            var gateway = configured[i] ?? "";
            if (IPEndPoint.TryParse(gateway, out var endpoint) && endpoint.Port != 0)
            {
                endpoints.Add(endpoint);
                continue;
            }

            var colon = gateway.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(gateway.AsSpan(colon + 1), out var port) || port is <= 0 or >= 65536)
            {
                problems.Add($"Gateways:{i} '{gateway}' is not host:port, e.g. 127.0.0.1:30000 or quota-gateway:30000.");
                continue;
            }

            try
            {
                var addresses = Dns.GetHostAddresses(gateway[..colon]);
                if (addresses.Length == 0)
                {
                    problems.Add($"Gateways:{i} '{gateway}': the host resolves to no address.");
                }

                endpoints.AddRange(addresses.Select(a => new IPEndPoint(a, port)));
            }
            catch (SocketException error)
            {
                problems.Add($"Gateways:{i} '{gateway}': the host could not be resolved ({error.SocketErrorCode}); check the name.");
            }
        }

        return [.. endpoints.Distinct()];
    }
}
