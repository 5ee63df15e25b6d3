using Quota.Abstractions;

namespace Quota.Server.Admin;

/// <summary>
/// A queue's definition as the admin API (<c>PUT /v1/admin/queues/{name}</c>) and <c>apply</c>'s <c>queues:</c>
/// section take it: <c>{ "dispatch": { "resources": ["telegram", "telegram:chat:{chat}"] }, "maxAttempts": 5,
/// "backoff": { "base": "00:00:01", "max": "00:01:00" }, "visibilityTimeout": "00:00:30", "maxPayloadBytes": 65536 }</c>.
/// Omitted fields take <see cref="QueueDefinition"/>'s defaults.
/// </summary>
public sealed class QueueBody
{
    /// <summary>The decision each item needs; required.</summary>
    public DispatchBody? Dispatch { get; set; }

    /// <summary>Attempts before dead-lettering.</summary>
    public int? MaxAttempts { get; set; }

    /// <summary>The retry backoff.</summary>
    public BackoffBody? Backoff { get; set; }

    /// <summary>How long a lease stays valid.</summary>
    public TimeSpan? VisibilityTimeout { get; set; }

    /// <summary>The largest payload in bytes.</summary>
    public int? MaxPayloadBytes { get; set; }

    /// <summary>The most items held.</summary>
    public int? MaxItems { get; set; }

    /// <summary>The declared processing time of one item, for planning.</summary>
    public TimeSpan? ProcessingTime { get; set; }

    /// <summary>The most workers to recommend.</summary>
    public int? MaxWorkers { get; set; }

    /// <summary>
    /// The definition this body describes, or null with every problem, each named by its path under
    /// <paramref name="path"/> (empty for an admin body, <c>queues.{name}.</c> in a document).
    /// </summary>
    public QueueDefinition? ToDefinition(string path, List<FieldProblem> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        var before = problems.Count;
        var defaults = new QueueDefinition { Dispatch = new QueueDispatch() };
        var definition = defaults with
        {
            Dispatch = Dispatch is { } d ? new QueueDispatch { User = d.User, Tenant = d.Tenant, Upstream = d.Upstream, Resources = d.Resources, Cost = d.Cost ?? 1 } : null!,
            MaxAttempts = MaxAttempts ?? defaults.MaxAttempts,
            BackoffBase = Backoff?.Base ?? defaults.BackoffBase,
            BackoffMax = Backoff?.Max ?? (Backoff?.Base is { } b && b > defaults.BackoffMax ? b : defaults.BackoffMax),
            VisibilityTimeout = VisibilityTimeout ?? defaults.VisibilityTimeout,
            MaxPayloadBytes = MaxPayloadBytes ?? defaults.MaxPayloadBytes,
            MaxItems = MaxItems ?? defaults.MaxItems,
            ProcessingTime = ProcessingTime ?? defaults.ProcessingTime,
            MaxWorkers = MaxWorkers ?? defaults.MaxWorkers,
        };
        problems.AddRange(QueueRules.Validate(definition).Select(p => p with { Field = path + p.Field }));
        return problems.Count == before ? definition : null;
    }

    /// <summary>A stored definition written back in this body's shape, as responses and plans show it.</summary>
    public static Http.QueueDefinitionView View(string name, QueueDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var dispatch = definition.Dispatch;
        return new(
            name,
            new(dispatch.User, dispatch.Tenant, dispatch.Upstream, dispatch.Resources, dispatch.Cost),
            definition.MaxAttempts,
            new(definition.BackoffBase, definition.BackoffMax),
            definition.VisibilityTimeout,
            definition.MaxPayloadBytes,
            definition.MaxItems,
            definition.ProcessingTime,
            definition.MaxWorkers);
    }
}

/// <summary>A queue's dispatch: an acquire body whose strings may name item attributes in braces. No API key: a queue stores no secret.</summary>
public sealed class DispatchBody
{
    /// <summary>User id.</summary>
    public string? User { get; set; }

    /// <summary>Tenant id.</summary>
    public string? Tenant { get; set; }

    /// <summary>Upstream name.</summary>
    public string? Upstream { get; set; }

    /// <summary>Resource names.</summary>
    public string[]? Resources { get; set; }

    /// <summary>Permits per item; default 1.</summary>
    public long? Cost { get; set; }
}

/// <summary>Exponential backoff with full jitter: the cap starts at <see cref="Base"/> and doubles up to <see cref="Max"/>.</summary>
public sealed class BackoffBody
{
    /// <summary>The first cap.</summary>
    public TimeSpan? Base { get; set; }

    /// <summary>The largest cap.</summary>
    public TimeSpan? Max { get; set; }
}
