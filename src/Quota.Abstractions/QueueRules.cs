using System.Text;

namespace Quota.Abstractions;

/// <summary>
/// The bounds of queues and the checks every front door applies to queue definitions and items, each problem naming
/// its field. A definition or item that passes is trusted inside the cluster.
/// </summary>
public static class QueueRules
{
    /// <summary>The most attempts a definition may allow.</summary>
    public const int MaxAttemptsCeiling = 100;

    /// <summary>The longest backoff cap: one day.</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromDays(1);

    /// <summary>The shortest visibility timeout: one second.</summary>
    public static readonly TimeSpan MinVisibilityTimeout = TimeSpan.FromSeconds(1);

    /// <summary>The longest visibility timeout: twelve hours.</summary>
    public static readonly TimeSpan MaxVisibilityTimeout = TimeSpan.FromHours(12);

    /// <summary>The largest payload a definition may allow: 1 MiB.</summary>
    public const int MaxPayloadBytesCeiling = 1 << 20;

    /// <summary>The most items a queue may hold.</summary>
    public const int MaxItemsCeiling = 1_000_000;

    /// <summary>
    /// The most payload bytes one queue may hold (<c>maxItems × maxPayloadBytes</c>): 1 GiB. Items live in the silo's
    /// memory in both modes (PostgreSQL keeps a durable copy), and anyone allowed to enqueue can fill a queue, so an
    /// admin cannot define one that holds more than a silo can (the default, 10,000 × 64 KiB, is 640 MiB).
    /// </summary>
    public const long MaxQueueBytes = 1L << 30;

    /// <summary>The most workers a definition may recommend.</summary>
    public const int MaxWorkersCeiling = 10_000;

    /// <summary>The most items one enqueue may carry.</summary>
    public const int MaxBatch = 1_000;

    /// <summary>The most items one lease may ask for.</summary>
    public const int MaxLease = 100;

    /// <summary>The longest a lease may wait, in milliseconds (below the cluster's 30-second response timeout).</summary>
    public const long MaxLeaseWaitMs = 20_000;

    /// <summary>The most attributes an item may carry.</summary>
    public const int MaxAttributes = 32;

    /// <summary>The longest error text kept with a nack; longer ones are cut.</summary>
    public const int MaxErrorLength = 2_000;

    /// <summary>
    /// The steady rate, in items per minute, that a decision's <paramref name="policies"/> allow items of
    /// <paramref name="cost"/> each: the slowest windowed policy (limit × 60 / window seconds / cost). Null when no
    /// windowed policy applies (a concurrency policy paces nothing by time). Queues' statistics and <c>POST /v1/plan</c>
    /// both read it.
    /// </summary>
    public static double? SlowestRatePerMinute(IEnumerable<PolicyState>? policies, long cost)
    {
        double? slowest = null;
        foreach (var policy in policies ?? [])
        {
            // A token bucket's steady rate is its refill, not its burst (6 per 5 s with a burst of 1 is 72 a minute).
            var perWindow = policy.Refill ?? policy.Limit;
            if (policy.WindowSeconds is > 0 && perWindow > 0)
            {
                var rate = perWindow * 60.0 / policy.WindowSeconds.Value / Math.Max(1, cost);
                slowest = slowest is { } s && s < rate ? s : rate;
            }
        }

        return slowest;
    }

    /// <summary>
    /// Every problem with <paramref name="definition"/>, each naming its field as the admin body spells it
    /// (<c>dispatch.resources[1]</c>, <c>backoff.max</c>, <c>maxAttempts</c>); empty when it may be stored.
    /// </summary>
    public static List<FieldProblem> Validate(QueueDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var problems = new List<FieldProblem>();
        ValidateDispatch(problems, definition.Dispatch);
        if (definition.MaxAttempts is < 1 or > MaxAttemptsCeiling)
        {
            problems.Add(new("maxAttempts", $"must be from 1 to {MaxAttemptsCeiling} (got {definition.MaxAttempts})."));
        }

        if (definition.BackoffBase <= TimeSpan.Zero || definition.BackoffBase > MaxBackoff)
        {
            problems.Add(new("backoff.base", $"must be more than 0 and at most {MaxBackoff:c} (got {definition.BackoffBase:c})."));
        }

        if (definition.BackoffMax < definition.BackoffBase || definition.BackoffMax > MaxBackoff)
        {
            problems.Add(new("backoff.max", $"must be at least backoff.base ({definition.BackoffBase:c}) and at most {MaxBackoff:c} (got {definition.BackoffMax:c})."));
        }

        if (definition.VisibilityTimeout < MinVisibilityTimeout || definition.VisibilityTimeout > MaxVisibilityTimeout)
        {
            problems.Add(new("visibilityTimeout", $"must be from {MinVisibilityTimeout:c} to {MaxVisibilityTimeout:c} (got {definition.VisibilityTimeout:c})."));
        }

        if (definition.MaxPayloadBytes is < 1 or > MaxPayloadBytesCeiling)
        {
            problems.Add(new("maxPayloadBytes", $"must be from 1 to {MaxPayloadBytesCeiling} (got {definition.MaxPayloadBytes})."));
        }

        if (definition.MaxItems is < 1 or > MaxItemsCeiling)
        {
            problems.Add(new("maxItems", $"must be from 1 to {MaxItemsCeiling} (got {definition.MaxItems})."));
        }

        else if (definition.MaxPayloadBytes is >= 1 and <= MaxPayloadBytesCeiling && (long)definition.MaxItems * definition.MaxPayloadBytes > MaxQueueBytes)
        {
            problems.Add(new("maxItems", $"× maxPayloadBytes is {(long)definition.MaxItems * definition.MaxPayloadBytes} bytes, more than the {MaxQueueBytes} (1 GiB) a queue may hold in memory; lower maxItems or maxPayloadBytes."));
        }

        if (definition.ProcessingTime <= TimeSpan.Zero || definition.ProcessingTime > MaxVisibilityTimeout)
        {
            problems.Add(new("processingTime", $"must be more than 0 and at most {MaxVisibilityTimeout:c} (got {definition.ProcessingTime:c})."));
        }

        if (definition.MaxWorkers is < 1 or > MaxWorkersCeiling)
        {
            problems.Add(new("maxWorkers", $"must be from 1 to {MaxWorkersCeiling} (got {definition.MaxWorkers})."));
        }

        return problems;
    }

    /// <summary>
    /// Every problem with one item for a queue of <paramref name="definition"/>, each field prefixed with
    /// <paramref name="path"/> (<c>items[0].</c>, or empty for a single item).
    /// </summary>
    public static void ValidateItem(List<FieldProblem> problems, string path, QueueItemInput item, QueueDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(problems);
        ArgumentNullException.ThrowIfNull(item);
        ArgumentNullException.ThrowIfNull(definition);
        if (item.Id is not null)
        {
            RequestRules.CheckName(problems, path + "id", item.Id);
        }

        var bytes = Encoding.UTF8.GetByteCount(item.Payload);
        if (bytes > definition.MaxPayloadBytes)
        {
            problems.Add(new(path + "payload", $"is {bytes} bytes; this queue accepts at most {definition.MaxPayloadBytes} (maxPayloadBytes)."));
        }

        if (!Enum.IsDefined(item.Priority))
        {
            problems.Add(new(path + "priority", "must be critical, high, normal or low."));
        }

        if (item.Attributes is { } attributes)
        {
            if (attributes.Count > MaxAttributes)
            {
                problems.Add(new(path + "attributes", $"at most {MaxAttributes} attributes per item (got {attributes.Count})."));
            }

            foreach (var (name, value) in attributes)
            {
                if (!IsAttributeName(name))
                {
                    problems.Add(new($"{path}attributes.{name}", "an attribute's name is 1 to 64 letters, digits, '_', '-' or '.'."));
                }
                else if (value is null)
                {
                    problems.Add(new($"{path}attributes.{name}", "must be a string, not null."));
                }
            }
        }

        if (item.NotBefore is { } notBefore && item.Deadline is { } deadline && deadline < notBefore)
        {
            problems.Add(new(path + "deadline", "is before notBefore; the item could never meet it."));
        }

        if (problems.Count == 0 && Render(definition.Dispatch, item.Attributes, item.Priority, out var renderProblems) is null)
        {
            problems.AddRange(renderProblems.Select(p => p with { Field = path + p.Field }));
        }
    }

    /// <summary>
    /// The decision an item needs: <paramref name="dispatch"/> with every <c>{name}</c> replaced by the item's attribute.
    /// Null with the problems when an attribute is missing (<c>attributes.chat</c>) or a rendered name breaks the name
    /// rule (<c>dispatch.resources[1]</c>).
    /// </summary>
    public static AcquireRequest? Render(QueueDispatch dispatch, IReadOnlyDictionary<string, string>? attributes, Priority priority, out List<FieldProblem> problems)
    {
        ArgumentNullException.ThrowIfNull(dispatch);
        problems = [];
        var missing = problems;
        string? Fill(string? template) => template is null ? null : Substitute(template, attributes, missing);
        var request = new AcquireRequest
        {
            User = Fill(dispatch.User),
            Tenant = Fill(dispatch.Tenant),
            Upstream = Fill(dispatch.Upstream),
            Resources = dispatch.Resources?.Select(r => Fill(r)!).ToArray(),
            Cost = dispatch.Cost,
            Priority = priority,
        };
        if (problems.Count > 0)
        {
            return null;
        }

        problems.AddRange(RequestRules.Validate(request, null).Select(p => p with { Field = "dispatch." + p.Field }));
        return problems.Count == 0 ? request : null;
    }

    private static void ValidateDispatch(List<FieldProblem> problems, QueueDispatch? dispatch)
    {
        if (dispatch is null)
        {
            problems.Add(new("dispatch", "is required: the acquire body each item needs, e.g. { \"resources\": [\"telegram\", \"telegram:chat:{chat}\"] }."));
            return;
        }

        var names = new List<string>();
        foreach (var (field, template) in Templates(dispatch))
        {
            if (!TryPlaceholders(template, names, out var fault))
            {
                problems.Add(new("dispatch." + field, fault!));
            }
        }

        if (problems.Count > 0)
        {
            return;
        }

        // A rendered name must obey the name rule whatever the attribute holds: checked here with a stand-in value.
        var sample = names.Distinct(StringComparer.Ordinal).ToDictionary(n => n, _ => "x", StringComparer.Ordinal);
        if (Render(dispatch, sample, Priority.Normal, out var rendered) is null)
        {
            problems.AddRange(rendered);
        }
    }

    private static IEnumerable<(string Field, string Template)> Templates(QueueDispatch dispatch)
    {
        if (dispatch.User is { } user)
        {
            yield return ("user", user);
        }

        if (dispatch.Tenant is { } tenant)
        {
            yield return ("tenant", tenant);
        }

        if (dispatch.Upstream is { } upstream)
        {
            yield return ("upstream", upstream);
        }

        for (var i = 0; i < (dispatch.Resources?.Length ?? 0); i++)
        {
            yield return ($"resources[{i}]", dispatch.Resources![i] ?? string.Empty);
        }
    }

    private static bool TryPlaceholders(string template, List<string> names, out string? fault)
    {
        fault = null;
        var i = 0;
        while (i < template.Length)
        {
            var c = template[i];
            if (c == '}')
            {
                fault = $"has a '}}' without its '{{' at {i}; name an attribute as {{name}}.";
                return false;
            }

            if (c != '{')
            {
                i++;
                continue;
            }

            var end = template.IndexOf('}', i + 1);
            var name = end < 0 ? null : template[(i + 1)..end];
            if (name is null || !IsAttributeName(name))
            {
                fault = $"has a placeholder at {i} that is not {{name}} with a name of 1 to 64 letters, digits, '_', '-' or '.'.";
                return false;
            }

            names.Add(name);
            i = end + 1;
        }

        return true;
    }

    private static string Substitute(string template, IReadOnlyDictionary<string, string>? attributes, List<FieldProblem> problems)
    {
        if (!template.Contains('{', StringComparison.Ordinal))
        {
            return template;
        }

        var builder = new StringBuilder(template.Length + 16);
        var i = 0;
        while (i < template.Length)
        {
            var start = template.IndexOf('{', i);
            if (start < 0)
            {
                builder.Append(template, i, template.Length - i);
                break;
            }

            builder.Append(template, i, start - i);
            var end = template.IndexOf('}', start + 1);
            var name = template[(start + 1)..end];
            if (attributes is not null && attributes.TryGetValue(name, out var value) && value is not null)
            {
                builder.Append(value);
            }
            else if (!problems.Any(p => p.Field == "attributes." + name))
            {
                problems.Add(new("attributes." + name, $"is required: the queue's dispatch names {{{name}}}."));
            }

            i = end + 1;
        }

        return builder.ToString();
    }

    private static bool IsAttributeName(string name) =>
        name.Length is >= 1 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');
}
