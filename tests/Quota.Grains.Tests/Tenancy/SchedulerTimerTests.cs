using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;
using Quota.Abstractions;
using Quota.Grains.Scheduling;

namespace Quota.Grains.Tests.Tenancy;

/// <summary>
/// The scheduler running by itself: a silo registers its reminder when it starts, and its timer runs it every
/// interval of quota time. A cluster of its own (one silo, in-memory reminders), since here the scheduler is on.
/// </summary>
public sealed class SchedulerTimerTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 5, 4, 0, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Start);
    private InProcessTestCluster _cluster = null!;

    public async ValueTask InitializeAsync()
    {
        _cluster = await new QuotaTestCluster
        {
            Time = _time,
            Settings = new Dictionary<string, string?>
            {
                ["Quota:Secrets:Pepper"] = "scheduler-timer-pepper-0123456789",
                ["Quota:Scheduler:Interval"] = "00:00:10",
            },
        }.StartAsync();
    }

    public ValueTask DisposeAsync() => QuotaTestCluster.StopAsync(_cluster);

    [Fact]
    public async Task TheSiloStartsItAndItsTimerRunsItEveryIntervalOfQuotaTime()
    {
        var scheduler = _cluster.Client.GetGrain<ISchedulerGrain>(0);
        var services = _cluster.Silos[0].SiloHost.Services;

        // A reminder of a minute (the least Orleans allows) brings it back after restarts.
        await scheduler.Cast<ISchedulerClusterGrain>().StartAsync();
        var reminders = await services.GetRequiredService<IReminderTable>().ReadRows(scheduler.GetGrainId());
        var reminder = Assert.Single(reminders.Reminders);
        Assert.Equal((SchedulerGrain.ReminderName, TimeSpan.FromMinutes(1)), (reminder.ReminderName, reminder.Period));

        var before = await scheduler.GetStatusAsync();
        Assert.Equal(60, before.ReminderPeriodSeconds);
        Assert.Equal((true, 10.0, 0L, (DateTimeOffset?)null, (DateTimeOffset?)(Start + TimeSpan.FromSeconds(10))), (before.Enabled, before.IntervalSeconds, before.Runs, before.LastRunAt, before.NextRunAt));

        // Ten seconds of quota time later the timer runs it; the run is observed through the silo's own metric.
        var runs = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var meters = services.GetRequiredService<IMeterFactory>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "quota.scheduler.runs" && ReferenceEquals(instrument.Meter.Scope, meters))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) => runs.TrySetResult((string)tags[0].Value!));
        listener.Start();

        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal("ok", await runs.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));

        var after = await scheduler.GetStatusAsync();
        Assert.Equal((1L, (DateTimeOffset?)(Start + TimeSpan.FromSeconds(10)), (DateTimeOffset?)(Start + TimeSpan.FromSeconds(20)), (string?)null), (after.Runs, after.LastRunAt, after.NextRunAt, after.LastError));
    }
}
