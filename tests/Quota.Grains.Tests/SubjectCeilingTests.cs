using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Quota.Abstractions;
using Quota.Client;
using Quota.Grains.Subjects;

namespace Quota.Grains.Tests;

/// <summary>One silo whose ceiling is <see cref="Ceiling"/> active users, keys and resources (<c>Quota:Limits:MaxActiveSubjects</c>).</summary>
public sealed class CeilingFixture() : ClusterFixture(silos: 1, new Dictionary<string, string?>(Settings)
{
    ["Quota:Limits:MaxActiveSubjects"] = Ceiling.ToString(System.Globalization.CultureInfo.InvariantCulture),
    ["Quota:Limits:ShedRetryAfter"] = "00:00:02",
    ["Quota:Policies:Resources:4:Name"] = "open:*",
    ["Quota:Policies:Resources:4:Policies:0:Name"] = "per-minute",
    ["Quota:Policies:Resources:4:Policies:0:Algorithm"] = "fixed-window",
    ["Quota:Policies:Resources:4:Policies:0:Limit"] = "10",
    ["Quota:Policies:Resources:4:Policies:0:Window"] = "00:01:00",
})
{
    public const int Ceiling = 50;

    public ActiveSubjects Active => Cluster.Silos[0].ServiceProvider.GetRequiredService<ActiveSubjects>();

    public IMeterFactory Meters => Cluster.Silos[0].ServiceProvider.GetRequiredService<IMeterFactory>();
}

[CollectionDefinition(Name)]
public sealed class CeilingCollection : ICollectionFixture<CeilingFixture>
{
    public const string Name = "subject ceiling";
}

/// <summary>
/// The per-silo ceiling on active subjects: past it a new user, key or resource is answered Overloaded (nothing
/// consumed, never queued, counted in <c>quota.shed</c>) while the subjects already active keep deciding.
/// </summary>
[Collection(CeilingCollection.Name)]
public sealed class SubjectCeilingTests(CeilingFixture fixture)
{
    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    [Fact]
    public async Task The_subject_past_the_ceiling_is_shed_while_an_active_one_still_decides()
    {
        var active = await FillToCeilingAsync();
        var count = fixture.Active.Count;
        using var shed = new ShedCounter(fixture.Meters);

        var refused = await fixture.Quota.AcquireAsync(new AcquireRequest { User = Unique("one-too-many"), Priority = Priority.Low });
        var existing = await fixture.Quota.AcquireAsync(new AcquireRequest { User = active[0] });

        Assert.Equal((false, DecisionOutcome.Overloaded, 2000L), (refused.Allowed, refused.Outcome, refused.RetryAfterMs));
        Assert.Equal("user", refused.Problem!.Field);
        Assert.Empty(refused.Policies);
        Assert.Equal((true, DecisionOutcome.Allowed), (existing.Allowed, existing.Outcome));
        Assert.Equal(1, shed.Count("low"));
        Assert.Equal(count, fixture.Active.Count);
    }

    [Fact]
    public async Task A_shed_subject_answers_at_once_whatever_the_wait_and_every_front_answers_overloaded()
    {
        await FillToCeilingAsync();
        var count = fixture.Active.Count;
        using var shed = new ShedCounter(fixture.Meters);
        var batched = new QuotaClient(fixture.Cluster.Client, batchAbove: 0);

        var waited = await fixture.Quota.AcquireAsync(new AcquireRequest { User = Unique("waiter"), MaxWaitMs = 600_000 });
        var viaBatch = await batched.AcquireAsync(new AcquireRequest { Resources = [Unique("open:batched")] });
        var key = await fixture.Quota.AcquireAsync(new AcquireRequest { ApiKey = Unique("key") });
        var usage = await fixture.Quota.GetUsageAsync(SubjectKind.User, Unique("reader"));

        Assert.Equal(DecisionOutcome.Overloaded, waited.Outcome);
        Assert.Equal((DecisionOutcome.Overloaded, "resources[0]"), (viaBatch.Outcome, viaBatch.Problem!.Field));
        Assert.Equal(1, batched.BatchCounts.Decisions);
        Assert.Equal((DecisionOutcome.Overloaded, "apiKey"), (key.Outcome, key.Problem!.Field));
        Assert.Equal((true, false, 2000L), (usage.Overloaded, usage.Known, usage.RetryAfterMs));
        Assert.Equal(4, shed.Count("normal"));
        Assert.Equal(count, fixture.Active.Count);
    }

    [Fact]
    public async Task The_coordinator_refunds_the_active_subjects_of_a_request_with_a_shed_one()
    {
        var active = await FillToCeilingAsync();

        var answer = await fixture.Quota.AcquireAsync(new AcquireRequest { User = active[1], Resources = [Unique("open:new")] });
        var user = await fixture.Quota.GetUsageAsync(SubjectKind.User, active[1]);

        Assert.Equal((DecisionOutcome.Overloaded, "resources[0]", 2000L), (answer.Outcome, answer.Problem!.Field, answer.RetryAfterMs));

        // The user took its permit in the round and gave it back: only the permit it took when the silo was filled.
        Assert.Equal(99, user.Policies.Single().Remaining);
    }

    [Fact]
    public async Task An_administrator_registers_a_key_at_the_ceiling()
    {
        var active = await FillToCeilingAsync();
        var count = fixture.Active.Count;
        var rawKey = Unique("admin-key");

        var info = await fixture.Cluster.Client.GetGrain<IDecisionGrain>(0).RegisterKeyAsync(rawKey, active[2], null);
        var answer = await fixture.Quota.AcquireAsync(new AcquireRequest { ApiKey = rawKey });

        Assert.Equal(active[2], info.Owner);
        Assert.True(answer.Allowed);
        Assert.Equal(count + 1, fixture.Active.Count);
    }

    /// <summary>
    /// Activates users that each take a permit (so they stay) until the silo holds its ceiling; answers the users this
    /// class made active, at least three.
    /// </summary>
    private async Task<string[]> FillToCeilingAsync()
    {
        while (s_filled.Count < 3 || fixture.Active.Count < CeilingFixture.Ceiling)
        {
            var user = Unique("filler");
            var answer = await fixture.Quota.AcquireAsync(new AcquireRequest { User = user });
            Assert.True(answer.Allowed, $"{user} was not admitted below the ceiling ({fixture.Active.Count} active): {answer.Outcome}");
            s_filled.Add(user);
        }

        Assert.True(fixture.Active.Count >= CeilingFixture.Ceiling);
        return [.. s_filled];
    }

    private static readonly List<string> s_filled = [];

    /// <summary>Counts <c>quota.shed</c> with reason <c>active_subjects</c> on the fixture's silo, by priority.</summary>
    private sealed class ShedCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Dictionary<string, int> _counts = [];

        public ShedCounter(IMeterFactory meters)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == "quota.shed" && ReferenceEquals(instrument.Meter.Scope, meters))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                string? reason = null, priority = null;
                foreach (var tag in tags)
                {
                    if (tag.Key == "reason")
                    {
                        reason = (string?)tag.Value;
                    }
                    else if (tag.Key == "priority")
                    {
                        priority = (string?)tag.Value;
                    }
                }

                if (reason == "active_subjects" && priority is not null)
                {
                    lock (_counts)
                    {
                        _counts[priority] = _counts.GetValueOrDefault(priority) + (int)value;
                    }
                }
            });
            _listener.Start();
        }

        public int Count(string priority)
        {
            lock (_counts)
            {
                return _counts.GetValueOrDefault(priority);
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
