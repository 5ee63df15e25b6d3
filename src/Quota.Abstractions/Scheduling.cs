namespace Quota.Abstractions;

/// <summary>
/// The cluster's scheduler (key 0): woken by a persisted reminder and ticking on a grain timer while active, it adapts
/// tenants' reserves to their use, moves dedicated assignments off hot or failing tokens, and retires tokens that
/// have a live successor. Runs never overlap; every step is idempotent, so a run cut short leaves nothing half done.
/// </summary>
[Alias("quota.ISchedulerGrain")]
public interface ISchedulerGrain : IGrainWithIntegerKey
{
    /// <summary>Runs once now, whether or not the scheduler is enabled, and answers what the run did.</summary>
    [Alias("Run")]
    Task<SchedulerRun> RunAsync();

    /// <summary>Whether it runs by itself, how often, and what its last run did; registers the reminder first if it is on and none is yet.</summary>
    [Alias("SchedulerStatus")]
    Task<SchedulerStatus> GetStatusAsync();
}

/// <summary>One change the scheduler made: what, old → new, why, when.</summary>
[GenerateSerializer, Immutable, Alias("quota.SchedulerChange")]
public sealed record SchedulerChange
{
    /// <summary>The run that made it.</summary>
    [Id(0)] public long Run { get; init; }

    /// <summary>When it was made (quota time).</summary>
    [Id(1)] public DateTimeOffset At { get; init; }

    /// <summary><c>reserve</c>, <c>rotate</c>, <c>drain</c>, <c>retire</c> (successor took over) or <c>remove</c> (retired token removed).</summary>
    [Id(2)] public required string Kind { get; init; }

    /// <summary>What changed: <c>tenant:acme</c> or <c>token:baselinker/bl-1</c>.</summary>
    [Id(3)] public required string Subject { get; init; }

    /// <summary>The value before, in words or numbers (<c>50</c>, <c>dedicated to acme</c>).</summary>
    [Id(4)] public string? Old { get; init; }

    /// <summary>The value after.</summary>
    [Id(5)] public string? New { get; init; }

    /// <summary>Why, with the numbers the rule saw.</summary>
    [Id(6)] public required string Reason { get; init; }
}

/// <summary>What one run did.</summary>
[GenerateSerializer, Immutable, Alias("quota.SchedulerRun")]
public sealed record SchedulerRun
{
    /// <summary>The run's number, increasing across the cluster's life.</summary>
    [Id(0)] public long Run { get; init; }

    /// <summary>When it ran (quota time).</summary>
    [Id(1)] public DateTimeOffset At { get; init; }

    /// <summary>The changes it made.</summary>
    [Id(2)] public SchedulerChange[] Changes { get; init; } = [];

    /// <summary>What a rule called for but could not be done, and why (no cool token to rotate to, the reservation rule, …).</summary>
    [Id(3)] public string[] Held { get; init; } = [];

    /// <summary>Tenants whose use it sampled.</summary>
    [Id(4)] public int TenantsSampled { get; init; }

    /// <summary>Tokens whose use and health it read.</summary>
    [Id(5)] public int TokensRead { get; init; }
}

/// <summary>The scheduler's state as shown.</summary>
[GenerateSerializer, Immutable, Alias("quota.SchedulerStatus")]
public sealed record SchedulerStatus
{
    /// <summary>Whether it runs by itself (<c>Quota:Scheduler:Enabled</c>).</summary>
    [Id(0)] public bool Enabled { get; init; }

    /// <summary>Seconds between runs.</summary>
    [Id(1)] public double IntervalSeconds { get; init; }

    /// <summary>Use samples a tenant needs before its reserve is adapted.</summary>
    [Id(2)] public int Samples { get; init; }

    /// <summary>Runs so far.</summary>
    [Id(3)] public long Runs { get; init; }

    /// <summary>When the last run started; null before the first.</summary>
    [Id(4)] public DateTimeOffset? LastRunAt { get; init; }

    /// <summary>When the next run is due; null when it does not run by itself.</summary>
    [Id(5)] public DateTimeOffset? NextRunAt { get; init; }

    /// <summary>Why the last run failed; null when it succeeded.</summary>
    [Id(6)] public string? LastError { get; init; }

    /// <summary>The persisted reminder's period in seconds (it wakes the scheduler after restarts); null when none is registered.</summary>
    [Id(7)] public double? ReminderPeriodSeconds { get; init; }

    /// <summary>The steps the latest run since the scheduler was activated held back, with why; empty before a run.</summary>
    [Id(8)] public string[] LastHeld { get; init; } = [];
}

/// <summary>One step a scheduler run asks the tenancy grain to take, with what it expects to find (so a replayed or stale step changes nothing).</summary>
[GenerateSerializer, Immutable, Alias("quota.SchedulerAction")]
public sealed record SchedulerAction
{
    /// <summary>As <see cref="SchedulerChange.Kind"/>.</summary>
    [Id(0)] public required string Kind { get; init; }

    /// <summary>The tenant whose reserve or assignment changes.</summary>
    [Id(1)] public string? Tenant { get; init; }

    /// <summary>The upstream of the tokens concerned.</summary>
    [Id(2)] public string? Upstream { get; init; }

    /// <summary>The token that changes (hot, failing or retiring).</summary>
    [Id(3)] public string? Token { get; init; }

    /// <summary>The token taking over (rotate, drain, retire).</summary>
    [Id(4)] public string? Target { get; init; }

    /// <summary>For <c>reserve</c>: the reserve expected now.</summary>
    [Id(5)] public long Old { get; init; }

    /// <summary>For <c>reserve</c>: the reserve to set.</summary>
    [Id(6)] public long New { get; init; }

    /// <summary>Why, with numbers.</summary>
    [Id(7)] public required string Reason { get; init; }

    /// <summary>For <c>reserve</c>: the written reserve the plan saw (an operator's write since makes the step stale).</summary>
    [Id(8)] public long? Configured { get; init; }
}

/// <summary>What the tenancy grain did with a run's steps.</summary>
[GenerateSerializer, Immutable, Alias("quota.ScheduleOutcome")]
public sealed record ScheduleOutcome
{
    /// <summary>The changes made, as recorded in the history.</summary>
    [Id(0)] public SchedulerChange[] Applied { get; init; } = [];

    /// <summary>Steps not taken and why (the configuration moved on, or the result would break a rule).</summary>
    [Id(1)] public string[] Held { get; init; } = [];
}
