namespace Quota.Abstractions;

/// <summary>One recorded configuration change: when, which subject, what it was and what it became.</summary>
[GenerateSerializer, Immutable, Alias("quota.ChangeRecord")]
public sealed record ChangeRecord
{
    /// <summary>Position in the log, increasing.</summary>
    [Id(0)] public long Sequence { get; init; }

    /// <summary>When the change was made.</summary>
    [Id(1)] public DateTimeOffset At { get; init; }

    /// <summary>The subject's label, e.g. <c>user:alice</c>.</summary>
    [Id(2)] public required string Subject { get; init; }

    /// <summary><c>set</c>, <c>reset</c>, <c>register</c> or <c>revoke</c>.</summary>
    [Id(3)] public required string Action { get; init; }

    /// <summary>The previous value as JSON; null when there was none.</summary>
    [Id(4)] public string? Old { get; init; }

    /// <summary>The new value as JSON; null when removed.</summary>
    [Id(5)] public string? New { get; init; }

    /// <summary>Where the change came from: <c>api</c> or <c>apply</c>.</summary>
    [Id(6)] public string Source { get; init; } = "api";
}

/// <summary>The cluster's record of configuration changes. One per cluster; keeps the newest 10,000.</summary>
[Alias("quota.IChangeLogGrain")]
public interface IChangeLogGrain : IGrainWithIntegerKey
{
    /// <summary>Appends changes in order; answers them with their sequence numbers and times.</summary>
    [Alias("Record")]
    Task<ChangeRecord[]> RecordAsync([Immutable] ChangeRecord[] changes);

    /// <summary>The newest changes first, at most <paramref name="limit"/>, optionally for one subject label.</summary>
    [Alias("List")]
    Task<ChangeRecord[]> ListAsync(int limit, string? subject);
}

/// <summary>
/// Which subjects have configuration of their own: users and resources with own policies, and each user's keys; and
/// which queues are defined. Lets operators list what they configured, and lets every silo find the queues it must keep
/// active after a restart (their gauges are what an autoscaler reads); one per cluster.
/// </summary>
[Alias("quota.IRegistryGrain")]
public interface IRegistryGrain : IGrainWithIntegerKey
{
    /// <summary>Notes that a subject has (or no longer has) configuration of its own.</summary>
    [Alias("Mark")]
    Task MarkAsync(SubjectKind kind, string id, bool configured);

    /// <summary>Notes that a key belongs (or no longer belongs) to a user.</summary>
    [Alias("MarkKey")]
    Task MarkKeyAsync(string user, string keyId, bool registered);

    /// <summary>Subjects of a kind with own configuration, sorted.</summary>
    [Alias("List")]
    Task<string[]> ListAsync(SubjectKind kind);

    /// <summary>The key ids of a user, sorted.</summary>
    [Alias("KeysOf")]
    Task<string[]> KeysOfAsync(string user);

    /// <summary>Notes that a queue is (or no longer is) defined; its grain calls this when its definition changes.</summary>
    [Alias("MarkQueue")]
    Task MarkQueueAsync(string name, bool defined);

    /// <summary>
    /// Defined queues in ordinal order of name, those after <paramref name="after"/> (null: from the first), at most
    /// <paramref name="limit"/>.
    /// </summary>
    [Alias("ListQueues")]
    Task<string[]> ListQueuesAsync(string? after, int limit);
}
