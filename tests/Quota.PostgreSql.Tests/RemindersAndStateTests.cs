using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using Quota.Grains.Storage;
using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Storage;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary>
/// The Orleans reminder and grain-storage providers on Quota's schema, through a real Orleans cluster: a reminder
/// registered before a full restart fires after it, and grain state written before it reads back after it.
/// </summary>
public sealed class RemindersAndStateTests(PostgresFixture postgres)
{
    [Fact]
    public async Task A_reminder_registered_before_a_full_restart_fires_after_it()
    {
        var connection = await postgres.Server.CreateDatabaseAsync();
        await SchemaMigrator.MigrateAsync(connection);
        var id = Guid.NewGuid().ToString("N");

        await using (var first = await StartAsync(connection))
        {
            // Due well after the restart, so it cannot fire before the first cluster is gone.
            await first.Client.GetGrain<IReminderProbeGrain>(id).RegisterAsync(TimeSpan.FromSeconds(20));
            await first.StopAllSilosAsync();
        }

        var fired = ReminderProbeGrain.Fired(id);
        Assert.False(fired.Task.IsCompleted);
        await using var second = await StartAsync(connection);

        // The reminder service loads the table on start; the grain is activated by the reminder itself.
        Assert.Equal("tick", await fired.Task.WaitAsync(TimeSpan.FromSeconds(90), TestContext.Current.CancellationToken));
        Assert.Equal(["tick"], await second.Client.GetGrain<IReminderProbeGrain>(id).RemindersAsync());
    }

    [Fact]
    public async Task Grain_state_written_before_a_full_restart_reads_back_after_it()
    {
        var connection = await postgres.Server.CreateDatabaseAsync();
        await SchemaMigrator.MigrateAsync(connection);
        var id = Guid.NewGuid().ToString("N");

        await using (var first = await StartAsync(connection))
        {
            await first.Client.GetGrain<IReminderProbeGrain>(id).SaveAsync("kept across restarts");
            await first.StopAllSilosAsync();
        }

        await using var second = await StartAsync(connection);

        Assert.Equal("kept across restarts", await second.Client.GetGrain<IReminderProbeGrain>(id).LoadAsync());
    }

    private static async Task<InProcessTestCluster> StartAsync(string connection)
    {
        ThreadPool.SetMinThreads(32, 32);
        var builder = new InProcessTestClusterBuilder(1);
        builder.Options.ServiceId = "reminder-tests";
        builder.ConfigureSilo((_, silo) =>
        {
            silo.UseAdoNetReminderService(options =>
            {
                options.Invariant = "Npgsql";
                options.ConnectionString = connection;
            });
            silo.AddAdoNetGrainStorage("probe", options =>
            {
                options.Invariant = "Npgsql";
                options.ConnectionString = connection;
                options.GrainStorageSerializer = new JsonGrainStateSerializer();
            });
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }
}

/// <summary>A grain that registers a reminder and remembers its ticks; test-only.</summary>
[Alias("quota.tests.IReminderProbeGrain")]
public interface IReminderProbeGrain : IGrainWithStringKey
{
    [Alias("Register")]
    Task RegisterAsync(TimeSpan due);

    [Alias("Reminders")]
    Task<string[]> RemindersAsync();

    [Alias("Save")]
    Task SaveAsync(string text);

    [Alias("Load")]
    Task<string?> LoadAsync();
}

/// <summary>What the probe persists.</summary>
[GenerateSerializer, Alias("quota.tests.ProbeState")]
public sealed class ProbeState
{
    [Id(0)] public string? Text { get; set; }

    [Id(1)] public List<string> Ticks { get; set; } = [];
}

[GrainType("reminder-probe")]
public sealed class ReminderProbeGrain([PersistentState("probe", "probe")] IPersistentState<ProbeState> state) : Grain, IReminderProbeGrain, IRemindable
{
    private static readonly ConcurrentDictionary<string, TaskCompletionSource<string>> Ticks = new();

    public static TaskCompletionSource<string> Fired(string id) =>
        Ticks.GetOrAdd(id, _ => new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));

    public async Task RegisterAsync(TimeSpan due) => await this.RegisterOrUpdateReminder("tick", due, TimeSpan.FromMinutes(1));

    public async Task<string[]> RemindersAsync() => [.. (await this.GetReminders()).Select(r => r.ReminderName)];

    public async Task SaveAsync(string text)
    {
        state.State.Text = text;
        await state.WriteStateAsync();
    }

    public Task<string?> LoadAsync() => Task.FromResult(state.State.Text);

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        Fired(this.GetPrimaryKeyString()).TrySetResult(reminderName);
        return Task.CompletedTask;
    }
}
