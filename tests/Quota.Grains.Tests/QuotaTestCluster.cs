using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Quota.Grains.Tests;

/// <summary>
/// The one way the grain tests start an in-process cluster of Quota's grains: <see cref="Silos"/> silos on one fake
/// quota clock, with <see cref="Settings"/> as their configuration and grain storage named <c>quota</c> (memory,
/// unless <see cref="Storage"/> gives one the test can see into). What a test needs besides goes in
/// <see cref="Silo"/> and <see cref="Client"/>.
/// </summary>
public sealed record QuotaTestCluster
{
    /// <summary>How many silos. Default: 1.</summary>
    public int Silos { get; init; } = 1;

    /// <summary>The quota clock every silo shares (a <c>FakeTimeProvider</c>).</summary>
    public required TimeProvider Time { get; init; }

    /// <summary>The silos' configuration (<c>Quota:…</c> keys).</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; init; } = new Dictionary<string, string?>();

    /// <summary>The grain storage named <c>quota</c>, shared by every silo; null: memory storage per silo.</summary>
    public IGrainStorage? Storage { get; init; }

    /// <summary>More for each silo (membership timings, a secret protector), before Quota's grains are added.</summary>
    public Action<ISiloBuilder>? Silo { get; init; }

    /// <summary>More for the cluster's client.</summary>
    public Action<IClientBuilder>? Client { get; init; }

    /// <summary>Builds and starts the cluster.</summary>
    public async Task<InProcessTestCluster> StartAsync()
    {
        // Two cores: without this a cluster takes seconds to start from thread-pool starvation.
        ThreadPool.SetMinThreads(32, 32);
        var builder = new InProcessTestClusterBuilder((short)Silos);
        builder.ConfigureSiloHost((_, host) => host.Configuration.AddInMemoryCollection(Settings));
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton(new QuotaTime(Time));
            if (Storage is { } storage)
            {
                silo.Services.AddKeyedSingleton("quota", (_, _) => storage);
            }
            else
            {
                silo.AddMemoryGrainStorage("quota");
            }

            // As the product's embedded mode: the scheduler registers (and, switched off, removes) its reminder.
            silo.UseInMemoryReminderService();
            Silo?.Invoke(silo);
            silo.AddQuotaGrains();
        });
        if (Client is { } client)
        {
            builder.ConfigureClient(client);
        }

        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    /// <summary>Stops every silo of <paramref name="cluster"/> and disposes it.</summary>
    public static async ValueTask StopAsync(InProcessTestCluster cluster)
    {
        await cluster.StopAllSilosAsync();
        await cluster.DisposeAsync();
    }
}
